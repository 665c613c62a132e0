"""What one person knows of their room: the seed's events, applied one by one (no I/O).

A browser in the seed never asks the server "who is here?": it learns the room from what the
server tells it (``roomJoined`` with the members, then ``userJoinedRoom``/``userLeftRoom``,
``voiceJoined`` with the peers already in voice, ``userJoinedVoice``/``userLeftVoice``). A
:class:`RoomView` keeps exactly that, so the lab can draw the room from its people's knowledge
(:meth:`talklab.Lab.graph`), whichever server they talk to (in this process, another process
through Redis, or a teacher's machine) and even after the server has gone.

:meth:`RoomView.apply` takes an event's name and payload as received; a payload that is not
what the event should carry changes nothing (a server talklab did not write may send anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Seen:
    """One member of the room, as this person last heard of them."""

    sid: str
    username: str
    user_id: str | None = None
    in_voice: bool = False


def _sid(data: Any) -> str | None:
    sid = data.get("socketId") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _seen(data: Any) -> Seen | None:
    sid = _sid(data)
    if sid is None:
        return None
    name = data.get("username")
    user_id = data.get("userId")
    return Seen(sid, name if isinstance(name, str) else sid,
                user_id if isinstance(user_id, str) else None, data.get("inVoice") is True)


NOTICES = ("userJoinedRoom", "userLeftRoom", "userJoinedVoice", "userLeftVoice")


class RoomView:
    """The room as one person knows it: who is in it, and who holds a voice seat."""

    def __init__(self) -> None:
        self.room: str | None = None
        self.me: str | None = None  # this person's socket id
        self.members: dict[str, Seen] = {}  # sid -> Seen, everyone in the room, me included
        self.in_voice = False  # this person holds a seat

    def apply(self, event: str, data: Any) -> None:
        """Update the view with one event from the server (a stale notice changes nothing)."""
        handler = getattr(self, "_" + event, None)
        if handler is not None and isinstance(data, dict) and not self.stale(event, data):
            handler(data)

    def stale(self, event: str, data: Any) -> bool:
        """Is this a notice about a room this person is no longer in? talklab's server names
        the room in every notice (an added field ``room``; the seed's clients ignore it): with
        several servers, a notice from the room someone just left can arrive after their
        ``roomJoined`` for the next one, and applied there it would put a stranger in the room.
        A notice without ``room`` (the seed's server) is never stale."""
        return (event in NOTICES and isinstance(data, dict) and isinstance(data.get("room"), str)
                and data["room"] != self.room)

    # -- the events ----------------------------------------------------------------------------
    def _roomJoined(self, data: dict) -> None:
        room, members = data.get("room"), data.get("members")
        if not isinstance(room, str) or not isinstance(members, list):
            return
        self.room, self.in_voice = room, False
        self.me = _sid(data) or self.me
        self.members = {m.sid: m for m in map(_seen, members) if m is not None}

    def _userJoinedRoom(self, data: dict) -> None:
        seen = _seen(data)
        if seen is not None:
            self.members[seen.sid] = seen

    def _userLeftRoom(self, data: dict) -> None:
        sid = _sid(data)
        if sid is not None:
            self.members.pop(sid, None)

    def _voiceJoined(self, data: dict) -> None:
        peers = data.get("peers")
        if not isinstance(peers, list):
            return
        self.in_voice = True
        if self.me in self.members:
            self.members[self.me].in_voice = True
        for peer in map(_seen, peers):
            if peer is not None:
                self.members.setdefault(peer.sid, peer).in_voice = True

    def _voiceLeft(self, data: dict) -> None:
        self.in_voice = False
        if self.me in self.members:
            self.members[self.me].in_voice = False

    def _userJoinedVoice(self, data: dict) -> None:
        seen = _seen(data)
        if seen is not None:
            self.members.setdefault(seen.sid, seen).in_voice = True

    def _userLeftVoice(self, data: dict) -> None:
        sid = _sid(data)
        if sid in self.members:
            self.members[sid].in_voice = False

    # -- questions -------------------------------------------------------------------------------
    def voice(self) -> dict[str, str]:
        """``{sid: username}`` of the others holding a voice seat."""
        return {sid: m.username for sid, m in self.members.items()
                if m.in_voice and sid != self.me}

    def names(self) -> dict[str, str]:
        """``{sid: username}`` of everyone in the room, this person included."""
        return {sid: m.username for sid, m in self.members.items()}
