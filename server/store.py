"""Where room and seat state lives: in this process, or in Redis shared by several servers.

The handlers in :mod:`.app` ask a *store* (all methods ``async``): :class:`MemoryStore` keeps
:class:`~.rooms.Rooms` in this process (the seed's ``userSocketMap``); :class:`RedisStore`
(:mod:`.redis_store`) keeps the same facts in Redis, so that several signaling servers behind a
load balancer share one set of rooms. Both keep the seat check-and-mark atomic.
"""

from __future__ import annotations

from .rooms import Member, Rooms


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

    # Each change answers with the member and the room as it now is (whom to tell).
    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        member = self.rooms.join_room(sid, room, username, user_id)
        return member, self.rooms.in_room(room)

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member], list[Member]]:
        """The member, the peers already in voice (who will send offers), and the room."""
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

    async def forward(self, sid: str, text: str) -> None:
        """A message for a socket that is not connected here: with one server, it is gone."""

    async def counts(self) -> dict:
        members = list(self.rooms.members.values())
        return {"rooms": len({m.room for m in members}), "members": len(members),
                "inVoice": sum(m.in_voice for m in members)}
