"""How the signaling server's messages reach people: always through the trace, to this
server's sockets directly, to another server's through the store, never stale.

Three rules, each with its reason:

* **Only current notices.** A notice about a room (``userJoinedRoom``, ``userLeftRoom``,
  ``userJoinedVoice``, ``userLeftVoice``) carries the room as an added field ``room``, and so does
  every message the server sends about one; the server that holds the recipient's socket
  delivers it only if the recipient is still in that room. With several servers a notice from
  the room someone has just left can cross their move (it came through another server, and
  arrived after ``roomJoined`` for the new room in 32 of 200 trials); it is dropped instead.
* **Nothing lost silently.** A relay for someone whose server is gone (killed: its people are
  freed a few seconds later) is refused at once with ``signalingError``: the store says so when
  nobody was listening on that server's channel (:meth:`Delivery.unreachable`).
* **One order on the wire.** A socket's packets leave in the order sent (see :mod:`.engine`).

:class:`Delivery` is made by the application (:mod:`.app`) with what it sends through: the
Socket.IO server, the :class:`~.store.Store`, the :class:`~.trace.Trace` and the
:class:`~.trace.Names` it writes people's names into the trace with.

Tested in tests/test_redis_survival.py (no stale notice crosses a move in 200 trials; offers to a
dead server's people are refused at once) and by every message of tests/test_server.py, which
reaches its people through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

import socketio
from engineio import packet as eio_packet

from .engine import DirectSocket, flush_held
from .member import Member
from .options import FastJson
from .store import Store
from .trace import SERVER, Names, Trace


class Delivery:
    """The sending side of the signaling server (see the module docstring)."""

    def __init__(self, sio: socketio.AsyncServer, store: Store, trace: Trace,
                 names: Names) -> None:
        self.sio = sio
        self.store = store
        self.trace = trace
        self.names = names
        self.stale_dropped = 0  # notices not delivered: their room was left meanwhile
        self._name = names.name  # (every message is traced: one attribute to look up)
        self._dumps = FastJson.dumps
        self._delivering: set[asyncio.Task] = set()  # forwarded packets for long-polling

    async def send(self, event: str, data: dict, to: str, room: str | None = None,
                   relay_from: str | None = None) -> None:
        """Send ``event`` to the socket ``to``, about ``room`` (dropped if ``to`` has left it
        meanwhile). ``relay_from``: the sender of a relay, told at once if ``to`` cannot be
        reached."""
        self.trace.record(event, SERVER, to, room, data, self._name)
        # Not python-socketio's emit: it builds a Packet (walking the data for binary parts),
        # then a task per recipient and an asyncio.wait on them, most of the cost of a relay.
        # A text EVENT packet for the default namespace is just "2" + JSON.
        text = "2" + self._dumps([event, data])
        delivered = await self._deliver(to, text, room)
        if delivered is None:  # not connected here: another server's, or gone
            await self.store.forward(to, text, room, (relay_from, event) if relay_from else None)

    def _stale(self, sid: str, room: str | None) -> bool:
        """True if ``sid`` (connected here) is no longer in ``room``: the message is about a
        room it has left (for another, or for none yet: a notice can arrive between the two
        halves of a move)."""
        if room is None or self.store.local_room(sid) == room:
            return False
        self.stale_dropped += 1
        return True

    async def _deliver(self, sid: str, text: str, room: str | None = None) -> bool | None:
        """Write a Socket.IO packet to one of this server's sockets: True if written, False if
        dropped as stale, None if the socket is not here."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is None:
            return None
        if self._stale(sid, room):
            return False
        await self.sio.eio.send_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, text))
        return True

    def forwarded(self, batch: Iterable[tuple[str, str | None, str]]) -> None:
        """Packets another server sent through Redis for our sockets (the store's
        ``on_forwarded``), each ``(sid, room or None, text)``: on the WebSocket path, held and
        then written at once, since they have waited for Redis already; otherwise
        (long-polling) through python-engineio, in order."""
        for sid, room, text in batch:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            sock = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
            if sock is None or self._stale(sid, room):
                continue  # gone, or moved on
            if isinstance(sock, DirectSocket) and sock.send_text("4" + text):
                continue
            self._later(self._deliver(sid, text))  # tasks run in order
        flush_held()

    def unreachable(self, refusals: list[tuple[str, str, str]]) -> None:
        """Relays the store could not deliver (``(sender, event, target)``: the target's server
        is gone; the store's ``on_unreachable``): each sender is told at once."""
        for sender, event, target in refusals:
            self._later(self.refuse(
                sender, event, f"{target} cannot be reached: their signaling server is gone "
                               "(they will be shown as left in a few seconds)"))

    def _later(self, job: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(job)
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def send_to_room(self, event: str, data: dict, members: list[Member],
                           skip: str) -> None:
        """The seed's ``socket.to(room).emit(...)``: everyone in the room but the sender.
        ``members`` is the room as the store answered the change being announced."""
        self.names.learn(*members)
        for member in members:
            if member.sid != skip:
                await self.send(event, data, member.sid, member.room)

    async def refuse(self, sid: str, event: str, message: str) -> None:
        await self.send("signalingError", {"event": event, "message": message}, sid)
