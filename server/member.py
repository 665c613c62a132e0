"""A member of a room, and how the room state refuses: the words every piece of the server uses.

:class:`Member` is one row of the seed's ``userSocketMap`` (``socket.id -> {userId, username,
roomCode, inVoice}``); :class:`RoomError` is a request the rooms refuse, shown to the client as
it is (``signalingError``), and :class:`VoiceFull` the seed's own refusal. The room state
(:mod:`.rooms`), the relay rule (:mod:`.relay`), the replica of Redis's rooms
(:mod:`.replica`), both stores and the handlers all speak in these, so they live here, in a
module that imports nothing of the server.

Tested in tests/test_rooms.py (the rooms refuse in its words: RoomError, and VoiceFull with the
seed's message) and with every piece that passes Members (tests/test_replica.py,
tests/test_relay.py).
"""

from __future__ import annotations

from dataclasses import dataclass

VOICE_FULL_MESSAGE = "Voice channel is full!"  # the seed's exact words


class RoomError(Exception):
    """A request the room state refuses; the message is shown to the client as is."""


class VoiceFull(RoomError):
    """The voice channel already holds ``voice_cap`` members."""

    def __init__(self) -> None:
        super().__init__(VOICE_FULL_MESSAGE)


def user_id_taken(user_id: str, room: str) -> str:
    """The refusal of a userId already in the room (the same words from every store)."""
    return (f"userId {user_id!r} is already in room {room} on another connection (if that "
            "was you, it leaves when the server notices it hung up)")


@dataclass
class Member:
    """One connected socket that has joined a room (one row of the seed's userSocketMap)."""

    sid: str
    user_id: str
    username: str
    room: str
    in_voice: bool = False

    def public(self) -> dict:
        """The member as the seed's clients see it."""
        return {
            "socketId": self.sid,
            "userId": self.user_id,
            "username": self.username,
            "inVoice": self.in_voice,
        }

    def identity(self) -> dict:
        """``{socketId, userId, username}``: the payload of userJoinedRoom/userJoinedVoice."""
        return {"socketId": self.sid, "userId": self.user_id, "username": self.username}
