"""After Redis comes back empty: each server writes its own people back, and nobody is forgotten.

Redis without persistence restarts with nothing in it. Before, every server then reloaded an
empty snapshot and forgot everyone: with 6 in voice, relays among them were refused, 6
newcomers got seats too (12 in voice as the clients saw it), and hang-ups reached nobody. But
each server knows the people connected to it: the answers to its own changes are kept by the
store (:attr:`~.store.RedisStore.own`). So (the Lua side is :data:`.scripts.REREGISTER`):

1. every batch of changes and every heartbeat names the epoch its server knows; an empty
   Redis has none, answers ``RESTARTED`` and changes nothing;
2. the server then re-registers every member it holds, in join order, seats included while
   the room's voice channel has room, in one script (atomic); the first server to do so starts
   a new epoch and makes joins wait :data:`.scripts.REBUILD_MS` (they answer ``WAIT`` and are
   retried), long enough for every living server to notice (each beats every second) and
   re-register too, so no newcomer takes a seat or a userId first;
3. it restores the version and join-order counters to at least what it has seen (announcements
   stay newer than what every replica holds), reloads its replica, and asks the others to.

Within a few seconds of Redis answering again everyone is seated as before, the cap holds
and the batch that met the empty Redis runs then, as if it had waited.

:class:`Rebuilder` does not reach into the store: it is given, when the store makes it, the
:class:`~.session.Session` to run the script through, and callbacks: ``people()`` says what to
write back (a :class:`Registration`, made with :func:`rows`), ``on_registered(epoch,
announcements)`` hands the answer back (the store takes the new epoch and applies and announces
each member written back, as its own change), ``reload()`` reloads the replica and
``tell_others()`` asks the other servers to reload theirs.

Tested in tests/test_redis_wire.py (a server writes its people back oldest first, without those
leaving, and counts the seats lost; no Redis) and tests/test_redis_survival.py (Redis back empty
forgets nobody).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..member import Member
from ..replica import parse
from . import scripts
from .liveness import ALIVE_MS
from .session import Session

log = logging.getLogger("talklab.server.redis")


@dataclass(frozen=True)
class Registration:
    """What a server writes back to a Redis that has forgotten it: its members as
    :data:`.scripts.REREGISTER` takes them (:func:`rows`), and the newest version and join
    order it has seen (the counters must not go back)."""

    rows: list[list[Any]]
    version: int
    newest_seq: int


def rows(own: Mapping[str, Member], own_seq: Mapping[str, int],
         leaving: Collection[str] = ()) -> list[list[Any]]:
    """This server's members, oldest first, as REREGISTER takes them: ``[sid, room, in_voice,
    username, user_id, seq]`` (not those ``leaving``: they hung up while Redis was away)."""
    members = sorted((m for sid, m in own.items() if sid not in leaving),
                     key=lambda m: own_seq.get(m.sid, 0))
    return [[m.sid, m.room, int(m.in_voice), m.username, m.user_id, own_seq.get(m.sid, 0)]
            for m in members]


def seats_lost(written: Registration, announcements: list[str]) -> int:
    """How many of the members written back had a seat and came back without one (the
    voice channel had filled meanwhile)."""
    seated = {row[0] for row in written.rows if row[2]}
    lost = 0
    for announcement in announcements:
        event = parse(announcement)
        if event is not None and len(event) == 8 and event[1] in seated and not event[4]:
            lost += 1
    return lost


class Rebuilder:
    """Re-registration of one server's own people (one run at a time)."""

    def __init__(self, session: Session, voice_cap: int, *,
                 people: Callable[[], Registration],
                 on_registered: Callable[[str, list[str]], None],
                 reload: Callable[[], Awaitable[None]],
                 tell_others: Callable[[], None]) -> None:
        self.session = session
        self.voice_cap = voice_cap
        self.people = people
        self.on_registered = on_registered
        self.reload = reload
        self.tell_others = tell_others
        self.runs = 0  # re-registrations that wrote someone back (tests wait on these)
        self._running: asyncio.Future | None = None

    async def reregister(self) -> bool:
        """Write back whatever Redis does not have of this server's people. Returns whether
        anything was written (Redis had forgotten them)."""
        session, written = self.session, self.people()
        reply = await session.client.run(
            scripts.REREGISTER, session.keys.prefix, session.server_id, ALIVE_MS,
            uuid.uuid4().hex, scripts.REBUILD_MS, written.version, written.newest_seq,
            self.voice_cap, orjson.dumps(written.rows).decode())
        epoch, *announcements = reply
        self.on_registered(epoch, announcements)
        if announcements:
            self.runs += 1
            lost = seats_lost(written, announcements)
            log.warning("Redis had forgotten %d of this server's people; wrote them back%s",
                        len(announcements), f" ({lost} without a seat)" if lost else "")
        return bool(announcements)

    async def run(self, tell_others: bool = False) -> None:
        """Re-register, reload the replica, and (``tell_others``) have every server reload
        theirs. Concurrent callers share one run."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run(tell_others))
        await asyncio.shield(self._running)

    async def _run(self, tell_others: bool) -> None:
        wrote = await self.reregister()
        await self.reload()
        if tell_others or wrote:
            self.tell_others()
