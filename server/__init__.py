"""The signaling server ("the postman"): the seed's Socket.IO backend, as talklab.server.

* :mod:`.member` — a member of a room and the refusals (:class:`Member`, :class:`RoomError`):
  the words every other module uses;
* :mod:`.rooms` — room and voice-seat state, no I/O (the seed's ``userSocketMap``);
* :mod:`.relay` — the one rule of who may relay to whom (pure);
* :mod:`.store` — the one :class:`Store` interface, and the in-memory store;
* :mod:`.redis` — the Redis store, for several servers sharing rooms (wire, scripts, store,
  liveness);
* :mod:`.replica` — each server's copy of the Redis rooms, for checking relays without a round
  trip (no I/O);
* :mod:`.payloads` — what each event must carry;
* :mod:`.limits` — each client's budgets (:class:`Limits`), :mod:`.gate` — who may reach the
  lab (Host, Origin, the trace's token), :mod:`.sessions` — handshakes that never connect,
  :mod:`.transport` — every socket's memory budget, :mod:`.inbound` — each message checked
  before python-socketio dispatches it, :mod:`.delivery` — how messages reach people;
* :mod:`.trace` — the log of every event in and out;
* :mod:`.classroom` — a teacher's locks and the calls people report (the class dashboard);
* :mod:`.app` — the Socket.IO handlers (:mod:`.options`: python-socketio's settings);
  :mod:`.http` — the HTTP routes; :mod:`.serve` — the
  listening :class:`SignalingServer` and the ``talklab-server`` command (:func:`main`);
* :mod:`.engine` — Engine.IO's WebSocket transport, read and written inline, and
  :mod:`.fastpath` — the check that the internals it relies on are there;
* ``static/`` — the seed's browser client, served at ``/``.

This folder is installed as the subpackage ``talklab.server`` (see pyproject.toml). Importing
it loads nothing else of talklab but ``talklab._service`` and ``talklab.address``.
"""

from .app import SignalingApp
from .limits import Limits
from .member import VOICE_FULL_MESSAGE, Member, RoomError, VoiceFull
from .rooms import DEFAULT_VOICE_CAP, Rooms
from .serve import SignalingServer, main
from .store import MemoryStore, Store, StoreUnavailable
from .trace import Trace, TraceEntry

__all__ = [
    "DEFAULT_VOICE_CAP",
    "VOICE_FULL_MESSAGE",
    "Limits",
    "Member",
    "MemoryStore",
    "RoomError",
    "Rooms",
    "SignalingApp",
    "SignalingServer",
    "Store",
    "StoreUnavailable",
    "Trace",
    "TraceEntry",
    "VoiceFull",
    "main",
]
