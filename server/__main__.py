"""``python -m talklab.server``: the same as ``talklab-server``."""

from .app import main

main()
