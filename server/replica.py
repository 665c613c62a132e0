"""Each server's copy of the rooms that live in Redis, for checking relays without a round trip.

With several signaling servers, the truth about rooms and seats is in Redis
(:mod:`.redis`). Joining and leaving are rare (six times per person per class) and go to
Redis, atomically. Relays are the opposite: 120 per room of six, each needing "are these two
people in voice in the same room, and which server holds the other one?". Asking Redis every
time made two servers slower than one (measured). So every change to a member is also
*announced*: the Lua script that makes the change answers with the member's new state, stamped
with a version number, and the server that ran it publishes that. Every server subscribes and
applies the announcements into a :class:`Replica`.

This module has no I/O: :meth:`Replica.apply` takes the announcement's text, so a test or a
notebook can feed it by hand (:func:`upsert` and :func:`deletion` write announcements).

What a replica may get wrong, and why it is safe:

* It can be a moment behind. A server applies its own changes at once, from the script's
  answer. It publishes each announcement before any message it sends after making the change,
  so another server hears of a change before any message sent because of it. Room lists sent to
  people come from the scripts' answers, never from a replica.
* It starts from a snapshot of every member (each with the version of its state) taken
  atomically, and skips older announcements still on their way.
* Should it ever be behind anyway, a relay check it refuses is asked again of Redis before
  anyone is refused. (A relay it allows may, for a few milliseconds after someone leaves, reach
  them: as a message already on its way would have.)
"""

from __future__ import annotations

import orjson

from . import relay
from .member import Member
from .rooms import Rooms

# A member travels as an array: [sid, server, room, in_voice, username, user_id, seq].
# An announcement is that array after a version number, or [ver, sid] for a deletion.


def member_of(row: list) -> Member:
    """A :class:`Member` from its array."""
    sid, _server, room, in_voice, username, user_id, _seq = row
    return Member(sid=str(sid), user_id=str(user_id), username=str(username), room=str(room),
                  in_voice=bool(in_voice))


def row_of(member: Member, server: str, seq: int) -> list:
    """A member's array (what the Lua scripts write), for tests and notebooks."""
    return [member.sid, server, member.room, int(member.in_voice), member.username,
            member.user_id, seq]


def upsert(ver: int, member: Member, server: str, seq: int) -> bytes:
    """The announcement of a member's state."""
    return orjson.dumps([ver, *row_of(member, server, seq)])


def deletion(ver: int, sid: str) -> bytes:
    """The announcement that ``sid`` has left its room (hung up, or moved rooms)."""
    return orjson.dumps([ver, sid])


class Replica:
    """Members of every room on every server, as last announced, and where each one is.

    Each member's changes are made, and announced, by the server holding its socket, in order;
    different members' announcements may arrive in any order. So each member remembers the
    version of the state it shows, and an announcement no newer than that changes nothing.
    A server applies its own changes at once (:meth:`apply_own`), and the others' as they
    arrive (:meth:`apply`); its own are never sent back to it.
    """

    def __init__(self) -> None:
        self.rooms = Rooms(unique_user_ids=False)  # (a copy: Redis refuses, not the replica)
        self.server_of: dict[str, str] = {}  # sid -> id of the server holding its socket
        self.version = 0  # the newest version seen
        self.floor = 0  # the snapshot's version: anything older about an unknown sid is stale
        self._seq: dict[str, int] = {}  # sid -> join order, as Redis numbered it
        self._ver: dict[str, int] = {}  # sid -> version of the state shown

    def load(self, version: int, announcements: list[str | bytes]) -> None:
        """Start over from a snapshot: every member's last announcement, read atomically
        when Redis stood at ``version``."""
        self.clear()
        for announcement in announcements:
            event = parse(announcement)
            if event is not None and len(event) == 8:
                self._change(event)
        self.version = self.floor = version

    def apply(self, announcement: str | bytes) -> bool:
        """Apply an announcement from the subscription. Returns False if it changed nothing:
        not newer than what the replica shows of that member, or malformed."""
        event = parse(announcement)
        if event is None:
            return False
        ver, sid = event[0], event[1]
        self.version = max(self.version, ver)
        if ver <= self._ver.get(sid, self.floor):
            return False
        self._change(event)
        return True

    def apply_own(self, announcement: str | bytes) -> bool:
        """Apply an announcement of a change this server just made (its people's changes
        reach it no other way, so no older one can follow)."""
        event = parse(announcement)
        if event is None or event[0] <= self._ver.get(event[1], self.floor):
            return False
        self.version = max(self.version, event[0])
        self._change(event)
        return True

    def _change(self, event: list) -> None:
        ver, sid = event[0], event[1]
        if len(event) == 2:
            self.rooms.leave_room(sid)
            self.server_of.pop(sid, None)
            self._seq.pop(sid, None)
            self._ver.pop(sid, None)
            return
        _, _, server, room, in_voice, username, user_id, seq = event
        current = self.rooms.members.get(sid)
        if current is None or current.room != room:
            self.rooms.leave_room(sid)
            current = self.rooms.join_room(sid, room, username, user_id)
        current.in_voice = in_voice
        self.server_of[sid] = server
        self._seq[sid] = seq
        self._ver[sid] = ver

    def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """The relay rule (:func:`.relay.check`) against this replica's members."""
        members = self.rooms.members
        return relay.check(members.get(sid), to, members.get(to))

    def in_room(self, room: str) -> list[Member]:
        """Members of ``room`` in the order they joined it."""
        return sorted(self.rooms.in_room(room), key=lambda m: self._seq.get(m.sid, 0))

    def newest_seq(self) -> int:
        """The highest join order known (Redis restarted empty must not number joins anew)."""
        return max(self._seq.values(), default=0)

    def clear(self) -> None:
        """Forget everything (before a new snapshot)."""
        self.rooms = Rooms(unique_user_ids=False)
        self.server_of.clear()
        self._seq.clear()
        self._ver.clear()


def parse(announcement: str | bytes) -> list | None:
    """``[ver, sid]`` or ``[ver, sid, server, room, in_voice, username, user_id, seq]``, each
    of its type (numbers for ver, in_voice and seq; strings for the rest), or None."""
    try:
        event = orjson.loads(announcement)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, list) or len(event) not in (2, 8):
        return None
    kinds = (int, str) if len(event) == 2 else (int, str, str, str, int, str, str, int)
    if not all(type(value) is kind for value, kind in zip(event, kinds, strict=True)):
        return None  # (type(True) is bool, not int: booleans are refused too)
    if len(event) == 8:
        event[4] = event[4] == 1
    return event
