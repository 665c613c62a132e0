"""Rooms and voice seats: the seed's ``userSocketMap``, made safe.

The seed keeps one dict, ``socket.id -> {userId, username, roomCode, inVoice}``, and walks it
to count voice seats. This module keeps the same facts, without any I/O: it takes plain
values (socket ids, room codes, names) and returns plain values, so the Socket.IO handlers
in :mod:`talklab.server.app` stay thin and a notebook or a test can drive a room one step at
a time with no network at all (the "sans-I/O" shape of h11 and aioquic).

Rules
-----
* A socket is in at most one room at a time. Joining another room first leaves the old one.
* A ``userId`` names one person in a room: another socket cannot join the room with a userId
  already there (an impostor with Bob's username and userId would have received the offers
  meant for Bob, from clients that know people by userId).
* A member may take a voice seat only in the room they are in, and only once.
* A room has at most ``voice_cap`` members in voice (the seed: 6). Checking the count and
  taking the seat happen in one synchronous call, so two joins can never both see "5 taken".
* Relaying signaling (offer/answer/candidate) is allowed only between two different members
  of the same room who are both in voice (:mod:`.relay`, the one place that rule is written).
  The seed relays blindly; we do not.

Every method that refuses something raises :class:`RoomError` and changes nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from . import relay
from .member import VOICE_FULL_MESSAGE, Member, RoomError, VoiceFull, user_id_taken

# (Member and the refusals live in .member, which every piece of the server imports; they are
# named here too, where the seed's userSocketMap is, for whoever reads the rooms first.)
__all__ = ["DEFAULT_VOICE_CAP", "VOICE_FULL_MESSAGE", "Member", "RoomError", "Rooms",
           "VoiceFull", "user_id_taken"]

DEFAULT_VOICE_CAP = 6


@dataclass
class Rooms:
    """All rooms of one signaling server. No sockets, no awaits: every call is atomic."""

    voice_cap: int = DEFAULT_VOICE_CAP
    members: dict[str, Member] = field(default_factory=dict)  # sid -> Member
    # Refuse a userId already in the room (a replica of Redis's rooms copies, never refuses)
    unique_user_ids: bool = True
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    # room -> {sid: Member}, in join order: so a room's members cost the room's size, not the
    # server's (a school's worth of rooms on one server)
    _by_room: dict[str, dict[str, Member]] = field(default_factory=dict, repr=False)

    # -- reading -------------------------------------------------------------------------
    def in_room(self, room: str) -> list[Member]:
        """Members of ``room`` in the order they joined."""
        return list(self._by_room.get(room, {}).values())

    def in_voice(self, room: str) -> list[Member]:
        """Members of ``room`` holding a voice seat, in the order they joined the room."""
        return [m for m in self.in_room(room) if m.in_voice]

    def rooms(self) -> dict[str, list[Member]]:
        """Every non-empty room and its members."""
        return {room: list(members.values()) for room, members in self._by_room.items()}

    # -- changing ------------------------------------------------------------------------
    def join_room(self, sid: str, room: str, username: str, user_id: str | None = None) -> Member:
        """Put ``sid`` into ``room``. The caller leaves any previous room first (see leave_room)."""
        if sid in self.members:
            current = self.members[sid]
            if current.room == room:
                raise RoomError(f"already in room {room}")
            raise RoomError(f"already in room {current.room}; leave it first")
        taken = {m.user_id for m in self._by_room.get(room, {}).values()} \
            if self.unique_user_ids else set()
        if user_id is not None and user_id in taken:
            raise RoomError(user_id_taken(user_id, room))
        user_id = user_id or f"u{next(self._ids)}"
        while user_id in taken:  # (a client may have chosen "u7" itself)
            user_id = f"u{next(self._ids)}"
        member = Member(sid=sid, user_id=user_id, username=username, room=room)
        self.members[sid] = member
        self._by_room.setdefault(room, {})[sid] = member
        return member

    def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member]]:
        """Take a voice seat: the seed's count-then-mark, in one step.

        Returns the member and the peers already in voice (the ones who will send offers).
        """
        member = self._member(sid)
        if member.room != room:
            raise RoomError(f"not in room {room}; join it first")
        if member.in_voice:
            raise RoomError(f"already in voice in room {room}")
        peers = self.in_voice(room)
        if len(peers) >= self.voice_cap:
            raise VoiceFull()
        member.in_voice = True
        return member, peers

    def leave_voice(self, sid: str, room: str | None = None) -> Member:
        """Give up the voice seat. ``room``, when given, must be the member's room."""
        member = self._member(sid)
        if room is not None and member.room != room:
            raise RoomError(f"not in room {room}")
        if not member.in_voice:
            raise RoomError(f"not in voice in room {member.room}")
        member.in_voice = False
        return member

    def leave_room(self, sid: str) -> Member | None:
        """Forget ``sid`` entirely (leaving or disconnecting). Returns who left, if anyone."""
        member = self.members.pop(sid, None)
        if member is not None:
            room = self._by_room[member.room]
            del room[sid]
            if not room:
                del self._by_room[member.room]
        return member

    # -- the relay rule (one rule for every store: see relay.py) ------------------------
    def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """Allow a signaling relay from ``sid`` to ``to`` only inside one room's voice channel
        (:func:`.relay.check`)."""
        return relay.check(self.members.get(sid), to, self.members.get(to))

    def _member(self, sid: str) -> Member:
        try:
            return self.members[sid]
        except KeyError:
            raise RoomError("join a room first") from None
