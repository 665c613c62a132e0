"""The signaling server ("the postman"): the seed's Socket.IO backend, as talklab.server.

* :mod:`.rooms` — room and voice-seat state, no I/O (the seed's ``userSocketMap``);
* :mod:`.store` / :mod:`.redis_store` — where that state lives: this process, or Redis shared by
  several servers;
* :mod:`.replica` — each server's copy of the Redis rooms, for checking relays without a round
  trip (no I/O);
* :mod:`.payloads` — what each event must carry;
* :mod:`.trace` — the log of every event in and out;
* :mod:`.app` — the Socket.IO handlers and the listening server;
* :mod:`.engine` — Engine.IO's WebSocket transport, read and written inline;
* ``static/`` — the seed's browser client, served at ``/``.

This folder is installed as the subpackage ``talklab.server`` (see pyproject.toml).
"""

from .app import SignalingApp, SignalingServer, main
from .rooms import DEFAULT_VOICE_CAP, VOICE_FULL_MESSAGE, Member, RoomError, Rooms, VoiceFull
from .trace import Trace, TraceEntry

__all__ = [
    "DEFAULT_VOICE_CAP",
    "VOICE_FULL_MESSAGE",
    "Member",
    "RoomError",
    "Rooms",
    "SignalingApp",
    "SignalingServer",
    "Trace",
    "TraceEntry",
    "VoiceFull",
    "main",
]
