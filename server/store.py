"""Where room and seat state lives: one interface, two homes.

The handlers in :mod:`.app` ask a *store*, through the :class:`Store` protocol below (every
question ``async``, because one home is across a network). :class:`MemoryStore` keeps
:class:`~.rooms.Rooms` in this process (the seed's ``userSocketMap``); the Redis store
(:mod:`.redis`) keeps the same facts in Redis, so that several signaling servers behind a load
balancer share one set of rooms. Both keep the seat check-and-mark atomic, and both check
relays with the one rule of :mod:`.relay`.

Every change answers with what the handler needs to tell people, so that no handler ever asks
twice: the member as it now is, and the room's members after the change (whom to tell).

Tested in tests/test_relay.py (the memory store asks the relay rule, case by case) and
tests/test_server.py (a room's members, read through the store).
"""

from __future__ import annotations

from typing import Protocol

from .member import Member
from .rooms import Rooms


class StoreUnavailable(Exception):
    """The store did not answer in time, or cannot be reached (Redis stopped, or gone).

    Unlike :class:`~.member.RoomError`, nothing was refused: the question could not be asked.
    The handler tells the client so (``signalingError``: "the room service did not answer")
    and goes on serving everyone else.
    """


class Store(Protocol):
    """What the signaling handlers ask of the place rooms live (see the module docstring)."""

    @property
    def voice_cap(self) -> int:
        """The most members one room's voice channel holds."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def member(self, sid: str) -> Member | None:
        """The member connected as ``sid``, or None if it is in no room."""
        ...

    async def members(self, room: str) -> list[Member]:
        """The members of ``room`` in the order they joined it ([] if it is empty)."""
        ...

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        """Put ``sid`` in ``room``: the new member, and the room afterwards."""
        ...

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member], list[Member]]:
        """Take a voice seat (or raise :class:`~.member.VoiceFull`): the member, the peers
        already in voice (who will send offers), and the room afterwards."""
        ...

    async def leave_voice(self, sid: str, room: str | None = None
                          ) -> tuple[Member, list[Member]]:
        """Give up the voice seat: the member, and the room afterwards."""
        ...

    async def leave_room(self, sid: str) -> tuple[Member | None, list[Member]]:
        """Forget ``sid`` (leaving, or hanging up): who left (None: nobody), and the room."""
        ...

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """``(sender, target)`` if ``sid`` may relay to ``to`` (:mod:`.relay`), else
        :class:`~.member.RoomError`."""
        ...

    async def forward(self, sid: str, text: str, room: str | None = None,
                      relay: tuple[str, str] | None = None) -> None:
        """Deliver a Socket.IO packet to a socket that is not connected to this server (about
        ``room``: see :mod:`.delivery`). ``relay`` is ``(sender, event)`` for a relay, whose
        sender is told at once if the socket's server is gone."""
        ...

    def local_room(self, sid: str) -> str | None:
        """The room of ``sid``, a socket connected to THIS server, as this server last changed
        it (None: in no room, or not ours). No I/O: asked for every message delivered."""
        ...

    async def counts(self) -> dict:
        """``{rooms, members, inVoice}``, for ``GET /health``."""
        ...


class MemoryStore:
    """Room state in this process. Every call is one synchronous step: atomic by construction."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    @property
    def voice_cap(self) -> int:
        return self.rooms.voice_cap

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def member(self, sid: str) -> Member | None:
        return self.rooms.members.get(sid)

    async def members(self, room: str) -> list[Member]:
        return self.rooms.in_room(room)

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        member = self.rooms.join_room(sid, room, username, user_id)
        return member, self.rooms.in_room(room)

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member], list[Member]]:
        member, peers = self.rooms.join_voice(sid, room)
        return member, peers, self.rooms.in_room(room)

    async def leave_voice(self, sid: str, room: str | None = None
                          ) -> tuple[Member, list[Member]]:
        member = self.rooms.leave_voice(sid, room)
        return member, self.rooms.in_room(member.room)

    async def leave_room(self, sid: str) -> tuple[Member | None, list[Member]]:
        member = self.rooms.leave_room(sid)
        return member, self.rooms.in_room(member.room) if member else []

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        return self.rooms.check_relay(sid, to)

    async def forward(self, sid: str, text: str, room: str | None = None,
                      relay: tuple[str, str] | None = None) -> None:
        """A message for a socket that is not connected here: with one server, it is gone."""

    def local_room(self, sid: str) -> str | None:
        member = self.rooms.members.get(sid)
        return member.room if member is not None else None

    async def counts(self) -> dict:
        members = list(self.rooms.members.values())
        return {"rooms": len({m.room for m in members}), "members": len(members),
                "inVoice": sum(m.in_voice for m in members)}
