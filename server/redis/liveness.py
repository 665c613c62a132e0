"""Which signaling servers are alive, and freeing the seats of those that are not.

Each server refreshes ``P alive:<server>`` every :data:`BEAT_S` with an expiry of
:data:`ALIVE_MS`; while it lives, the key is there. A server killed without a goodbye stops
refreshing it, and within a few seconds another server's reaper claims its sids (one Lua
script: only one reaper wins), frees their seats and tells their rooms, as if each of them had
hung up (``userLeftVoice``, ``userLeftRoom``).

Two things must not be mistaken for a death:

* **Redis itself was away.** If Redis stops answering (or is stopped, SIGSTOP) for longer than
  an expiry, every server's key lapses at once, and the first server to get through afterwards
  would see all the others "dead". So a server that could not refresh its own key (or needed
  longer than :data:`SLOW_S` to) does not reap for a full :data:`ALIVE_MS` and a beat
  afterwards: time for every living server to refresh its key again.
* **A late claim.** A claim sent while Redis was stopped runs when it resumes, maybe after its
  sender gave up on it; it carries a deadline and does nothing if late (see :mod:`.scripts`).

A person who hangs up while Redis does not answer cannot leave then; the store hands them over
(:meth:`Liveness.hung_up`), and their leaving is retried on every beat until Redis answers (and
their room is told then).

:class:`Liveness` is given, when the store makes it, the :class:`~.session.Session` it beats
through and what it needs of the store as callbacks: ``leave(sid)`` and ``members(room)`` (the
store's own questions), ``restarted()`` (Redis has forgotten everything: write this server's
people back, :mod:`.rebuild`) and ``on_reaped(gone)`` (tell the rooms).

Tested in tests/test_redis_wire.py (a leave retried through the callbacks it was given, no store)
and tests/test_redis.py (a killed server's seats freed and its rooms told; after Redis was away, a
server waits before reaping).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from talklab.events import until

from ..member import Member
from ..store import StoreUnavailable
from . import scripts
from .session import Session

log = logging.getLogger("talklab.server.redis")

ALIVE_MS = 3000  # a server silent this long is dead
BEAT_S = 1.0
SLOW_S = 1.0  # a heartbeat answered later than this: Redis was away, do not reap yet

Gone = list[tuple[Member, list[Member]]]  # who left, and their room afterwards
Left = tuple[Member | None, list[Member]]  # the store's answer to leave_room: who, and the room


class Liveness:
    """The heartbeat and the reaper of one server's Redis store."""

    def __init__(self, session: Session, *,
                 leave: Callable[[str], Awaitable[Left]],
                 members: Callable[[str], Awaitable[list[Member]]],
                 restarted: Callable[[], Awaitable[None]],
                 on_reaped: Callable[[Gone], Awaitable[None]] | None = None) -> None:
        self.session = session
        self.leave = leave
        self.members = members
        self.restarted = restarted
        self.on_reaped = on_reaped
        self.unfinished: set[str] = set()  # sids that hung up while Redis did not answer
        self.departing: dict[str, Member] = {}  # ...and who they were, as this server knew
        self.rounds = 0  # heartbeats that reached Redis (tests wait on these)
        self.failures = 0  # heartbeats that did not
        self._round = asyncio.Event()
        self._quiet_until = 0.0  # loop time before which this server does not reap
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def hung_up(self, sid: str, member: Member | None) -> None:
        """``sid`` hung up but Redis did not answer: leave on a later beat, and tell the room
        then (as ``member``, who they were, if Redis has forgotten them meanwhile)."""
        self.unfinished.add(sid)
        if member is not None:
            self.departing[sid] = member

    async def beat(self) -> None:
        """Refresh this server's key and its place in the set of servers. A Redis that
        restarted empty has neither, nor the epoch: the server then writes its people back
        first (``restarted``, :mod:`.rebuild`), which beats too."""
        session = self.session
        reply = await session.client.run(scripts.BEAT, session.keys.prefix, session.server_id,
                                         ALIVE_MS, session.epoch)
        if reply == "RESTARTED":
            await self.restarted()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(BEAT_S)
            started = loop.time()
            try:
                await self.beat()
            except StoreUnavailable as exc:
                log.warning("heartbeat: %s", exc)
                self._quiet_until = loop.time() + ALIVE_MS / 1000 + BEAT_S
                self.failures += 1
                self._round.set()
                continue
            if loop.time() - started > SLOW_S:
                self._quiet_until = loop.time() + ALIVE_MS / 1000 + BEAT_S
            try:
                gone = await self.finish_leaving()
                if loop.time() >= self._quiet_until:
                    gone += await self.reap()
                if gone and self.on_reaped is not None:
                    await self.on_reaped(gone)
            except StoreUnavailable as exc:
                log.warning("reaper: %s", exc)
            except Exception:  # a bug must not stop the heartbeat
                log.exception("reaper failed")
            self.rounds += 1
            self._round.set()

    async def reap(self) -> Gone:
        """Free the seats of people whose server died. Returns who left, and their rooms."""
        session = self.session
        client, keys = session.client, session.keys
        gone: Gone = []
        for server in await client.execute("SMEMBERS", keys.servers):
            if server == session.server_id:
                continue
            sids = await client.run(scripts.CLAIM_DEAD, keys.prefix, server, session.deadline())
            if sids:
                log.info("server %s is gone: freeing %d seats", server, len(sids))
            gone += await self._leave(sids)
        return gone

    async def finish_leaving(self) -> Gone:
        """Retry the leaving of people who hung up while Redis did not answer."""
        sids, self.unfinished = list(self.unfinished), set()
        return await self._leave(sids)

    async def _leave(self, sids: list[str]) -> Gone:
        """Each sid leaves its room (in one batch); those that cannot now are kept for the
        next beat."""
        results = await asyncio.gather(*(self.leave(sid) for sid in sids),
                                       return_exceptions=True)
        gone: Gone = []
        for sid, result in zip(sids, results, strict=True):
            if isinstance(result, BaseException):
                self.unfinished.add(sid)
                if not isinstance(result, StoreUnavailable):
                    log.error("leaving %s failed: %r", sid, result)
                continue
            departed = self.departing.pop(sid, None)
            if result[0] is not None:
                gone.append((result[0], result[1]))
            elif departed is not None:  # Redis forgot them (restarted empty): this server
                # knew them, so their room is told all the same
                gone.append((departed, await self.members(departed.room)))
        return gone

    async def wait_rounds(self, n: int, timeout: float = 10, failed: bool = False) -> None:
        """Wait until ``n`` more heartbeats have reached Redis (and each reaped); with
        ``failed``, until ``n`` more have not."""
        def count() -> int:
            return self.failures if failed else self.rounds
        target = count() + n

        await until(self._round, lambda: count() >= target, timeout)
