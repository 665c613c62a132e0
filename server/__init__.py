"""The signaling server ("the postman"): the seed's Socket.IO backend, as talklab.server.

Its modules in layers, lowest first. A module imports only from its own layer or a lower one,
never in a circle, wherever the import is written (``tests/test_layers.py`` reads them all,
against the map drawn in DEVELOPERS.md, its only copy). A piece that needs another is given
it, or a callback, by whoever makes it: no module reaches back up to its owner.

1. **Plain values and rules**, no I/O: :mod:`.member` (a member of a room and the refusals,
   :class:`Member`, :class:`RoomError`), :mod:`.limits` (each client's budgets,
   :class:`Limits`), :mod:`.gate` (who may reach the lab: Host, Origin, the trace's token),
   :mod:`.payloads` (what each event must carry), :mod:`.options` (python-socketio's
   settings), :mod:`.trace` (the log of every event in and out).
2. **Rooms**, no I/O: :mod:`.relay` (the one rule of who may relay to whom), :mod:`.rooms`
   (room and voice-seat state: the seed's ``userSocketMap``), :mod:`.replica` (each server's
   copy of the Redis rooms), :mod:`.store` (the one :class:`Store` interface, and the
   in-memory store), :mod:`.classroom` (a teacher's locks and the calls people report).
3. **Redis** (:mod:`.redis`): its URL, RESP on the wire, the keys and Lua scripts, and one
   server's session; then the channels, the heartbeat and the rebuilding after a restart, each
   made by the Redis store with the session and callbacks; then the store.
4. **Sockets**: :mod:`.transport` (every socket's memory budget), :mod:`.engine` (Engine.IO's
   WebSocket transport, read and written inline), :mod:`.fastpath` (the check that the
   internals it relies on are there), :mod:`.sessions` (handshakes that never connect).
5. **The application's parts**: :mod:`.inbound` (each message checked before python-socketio
   dispatches it), :mod:`.delivery` (how messages reach people), :mod:`.http` (the HTTP routes
   and the gate in front of them).
6. :mod:`.app` — the Socket.IO handlers, making and wiring all of the above.
7. :mod:`.serve` — the listening :class:`SignalingServer` and the ``talklab-server`` command
   (:func:`main`); ``python -m talklab.server`` runs it.

``static/`` holds the seed's browser client, served at ``/``.

This folder is installed as the subpackage ``talklab.server`` (see pyproject.toml). Importing
it loads nothing else of talklab but ``talklab._service``, ``talklab.address`` and
``talklab.events`` (the one event-driven wait, :func:`talklab.events.until`).
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
