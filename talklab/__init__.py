"""talklab: take apart a WebRTC voice room, live, inside a notebook.

The seed's five systems, each a module you can open:

* Step 1, getUserMedia: :mod:`talklab.media`
* Steps 2-7, the signaling server: :mod:`talklab.server` (the ``server/`` folder)
* the seed's browser, one per person: :mod:`talklab.person`
* Step 8, ICE: :mod:`talklab.ice`
* Step 9, what each person hears: :mod:`talklab.hearing`

:class:`talklab.Lab` puts them together.
"""

from .server import SignalingServer

__all__ = ["SignalingServer"]
__version__ = "0.1.0"
