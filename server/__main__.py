"""``python -m talklab.server``: the same as ``talklab-server``."""

from .serve import main

main()
