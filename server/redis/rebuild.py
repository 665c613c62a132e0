"""After Redis comes back empty: each server writes its own people back, and nobody is forgotten.

Redis without persistence restarts with nothing in it. Before, every server then reloaded an
empty snapshot and forgot everyone: with 6 in voice, relays among them were refused, 6
newcomers got seats too (12 in voice as the clients saw it), and hang-ups reached nobody. But
each server knows the people connected to it: the answers to its own changes are kept in
:attr:`~.store.RedisStore.own`. So (the Lua side is :data:`.scripts.REREGISTER`):

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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from ..store import StoreUnavailable
from . import scripts
from .liveness import ALIVE_MS

if TYPE_CHECKING:
    from .store import RedisStore

log = logging.getLogger("talklab.server.redis")


class Rebuilder:
    """Re-registration of one :class:`~.store.RedisStore`'s own people (one run at a time)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.runs = 0  # re-registrations that wrote someone back (tests wait on these)
        self._running: asyncio.Future | None = None

    def rows(self) -> list[list[Any]]:
        """This server's members, oldest first, as REREGISTER takes them (not those who hung
        up while Redis was away: they are leaving)."""
        store = self.store
        unfinished = store.liveness.unfinished
        members = sorted((m for sid, m in store.own.items() if sid not in unfinished),
                         key=lambda m: store.own_seq.get(m.sid, 0))
        return [[m.sid, m.room, int(m.in_voice), m.username, m.user_id,
                 store.own_seq.get(m.sid, 0)] for m in members]

    async def reregister(self) -> bool:
        """Write back whatever Redis does not have of this server's people. Returns whether
        anything was written (Redis had forgotten them)."""
        store = self.store
        replica = store.replica
        seated = {sid for sid, m in store.own.items() if m.in_voice}
        reply = await store.client.run(
            scripts.REREGISTER, store.keys.prefix, store.server_id, ALIVE_MS, uuid.uuid4().hex,
            scripts.REBUILD_MS, replica.version,
            max(replica.newest_seq(), max(store.own_seq.values(), default=0)),
            store.voice_cap, orjson.dumps(self.rows()).decode())
        epoch, *announcements = reply
        store.epoch = epoch
        for announcement in announcements:
            store._announce(announcement)
        if announcements:
            self.runs += 1
            lost = sum(1 for sid in seated if sid in store.own and not store.own[sid].in_voice)
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
        store = self.store
        wrote = await self.reregister()
        await store._load_snapshot()
        if tell_others or wrote:
            store.tell_others_to_resync()

    async def retry(self, batch: list[tuple[str, list, asyncio.Future]]) -> None:
        """A batch met a Redis without this server's epoch: re-register, then send it again."""
        try:
            await self.run(tell_others=True)
        except StoreUnavailable as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for op, args, future in batch:
            if not future.done():
                self.store.requeue(op, args, future)

    async def wait_and_retry(self, op: str, args: list, future: asyncio.Future,
                             ttl_ms: int) -> None:
        """A join met servers re-registering their people: ask again once they are done."""
        await asyncio.sleep(min(int(ttl_ms), scripts.REBUILD_MS) / 1000 + 0.02)
        if not future.done():
            self.store.requeue(op, args, future)
