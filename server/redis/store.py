"""Rooms and seats in Redis: one set of rooms for several signaling servers.

The seed keeps ``userSocketMap`` in one Node process, so it cannot run on two machines. Here the
same facts live in Redis (the keys and the Lua scripts that change them: :mod:`.scripts`), and
each server keeps a :class:`~..replica.Replica` of them for checking relays without a round
trip. How the pieces fit:

* **Changes** (join a room, join voice, leave either) run as Lua scripts. Those asked for in
  one turn of the event loop go as ONE script call (a class joining at nine o'clock makes
  three changes per person, all at once); each change stays atomic, and each answers with the
  member's new state, stamped with a version number (an *announcement*), and the room as it
  now is. The server applies the announcement to its replica at once and publishes it.
* **Announcements and messages** for other servers are published at the end of each turn
  (:mod:`.channels`): announcements first, on ``events``, then each other server's messages on
  its own channel. Redis delivers them in that order, so another server learns of a change
  before any message sent because of it. Every server applies the others' announcements to
  its replica.
* **Relays** are checked against the replica (:mod:`..relay`'s rule); a refusal is confirmed
  with Redis first (a replica may not know people older than itself).
* **Liveness** (:mod:`.liveness`): heartbeats, and freeing a dead server's seats.

All of it goes over three connections of two kinds (:mod:`.wire`): two command connections
(one for commands that want an answer, one for PUBLISH) and one subscribed. What every piece
shares is one :class:`~.session.Session` (this server's id, the keys, the connections, the
epoch); the store makes it, and gives each piece the session and callbacks, never itself.

When Redis does not answer (stopped, or cut off), every call fails within the URL's
``socket_timeout`` with :class:`~..store.StoreUnavailable`; relays between people the replica
knows keep working. Announcements published meanwhile may be lost, so when the command
connection opens again after a failure, this server reloads its replica and asks every other
server (a ``resync`` on ``events``) to reload theirs.

**Redis back empty** (restarted without persistence): each server knows its own people
(:attr:`RedisStore.own`, kept from the answers to its own changes) and writes them back, seats
included, before any change of its own can reach the empty Redis (:mod:`.scripts`, "Redis
restarted empty"; :mod:`.rebuild`).

**Messages for other servers** carry the room they are about (the receiving server drops one
for someone who has left that room: :mod:`..delivery`); a relay published to a server nobody
listens for any more (killed) is refused to its sender at once (``on_unreachable``).

Tested in tests/test_redis.py (two and three talklab-servers on one Redis: the Dave scenario, six
seats for seven joins, a server killed or shut down, Redis stopped or restarted),
tests/test_redis_survival.py and tests/test_redis_wire.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from talklab.events import until

from .. import relay
from ..member import Member, RoomError, VoiceFull, user_id_taken
from ..replica import Replica, member_of, parse
from ..rooms import Rooms
from ..store import StoreUnavailable
from . import scripts
from .channels import Channels, Forwarded, Unreachable
from .liveness import Gone, Liveness
from .rebuild import Rebuilder, Registration, rows
from .scripts import PREFIX, Keys, member_from_hash
from .session import Session
from .url import parse_url
from .wire import RedisUnavailable, both

log = logging.getLogger("talklab.server.redis")

Change = tuple[str, list, asyncio.Future]  # (the change, its arguments, its caller's answer)


class RedisStore:
    """Room state shared through Redis by every server that points at the same database.

    ``on_reaped(gone)`` is awaited with people who left without their rooms being told (their
    server died); ``on_forwarded(batch)`` is called with ``(sid, room or None, Socket.IO packet
    text)`` triples another server sent for this server's sockets, as each Redis message is
    read; ``on_unreachable(relays)`` with ``(sender, event, target)`` of relays that reached
    nobody (the target's server is gone).
    """

    scripts = scripts

    def __init__(self, url: str, *, voice_cap: int,
                 on_reaped: Callable[[Gone], Awaitable[None]] | None = None,
                 on_forwarded: Forwarded | None = None,
                 on_unreachable: Callable[[Unreachable], None] | None = None,
                 prefix: str = PREFIX) -> None:
        self.voice_cap = voice_cap
        # (a RedisURLError, before anything connects)
        self.session = Session(parse_url(url), prefix, on_recovered=self._recovered)
        self.replica = Replica()
        self.own: dict[str, Member] = {}  # this server's people, as its changes left them
        self.own_seq: dict[str, int] = {}  # their join order
        self.channels = Channels(self.session, self.replica, on_forwarded=on_forwarded,
                                 on_unreachable=on_unreachable, on_resync=self._resync_later,
                                 on_lost=self._subscription_lost)
        # Every message for a socket of another server goes this way: straight to the
        # channels, with no call of the store's own in between.
        self.forward = self.channels.forward
        self.liveness = Liveness(self.session, leave=self.leave_room, members=self.members,
                                 restarted=self._restarted, on_reaped=on_reaped)
        self.rebuilder = Rebuilder(self.session, voice_cap, people=self._registration,
                                   on_registered=self._registered,
                                   reload=self.channels.load_snapshot,
                                   tell_others=self.channels.tell_others_to_resync)
        self.subscriptions = 0  # how many times it has subscribed and loaded a snapshot
        self._subscribed = asyncio.Event()
        self._queued: list[Change] = []  # changes for this turn
        self._tasks: set[asyncio.Task] = set()
        self._running = False

    @property
    def server_id(self) -> str:
        """This server's id (in its keys and channels)."""
        return self.session.server_id

    @property
    def keys(self) -> Keys:
        return self.session.keys

    @property
    def forwarded(self) -> int:
        """Messages this server sent on to another server's sockets, through Redis."""
        return self.channels.forwarded

    @property
    def rooms(self) -> Rooms:
        """The replica's rooms: this process's view of every server's people."""
        return self.replica.rooms

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, subscribe, load the rooms and start the heartbeat; RedisUnavailable (with
        the reason) if Redis cannot be reached or refuses."""
        self._running = True
        session = self.session
        await session.measure_clock()
        session.epoch = await session.client.run(scripts.EPOCH, session.keys.prefix,
                                                 uuid.uuid4().hex)
        await self._subscribe()
        await self.liveness.beat()
        self.liveness.start()

    async def close(self) -> None:
        """A clean shutdown: this server's people have left (as their sockets closed); it
        forgets its heartbeat, waits for what it sent to be answered, and closes."""
        if not self._running:
            return
        self._running = False
        self.liveness.stop()
        for task in list(self._tasks):
            task.cancel()
        self.channels.unsubscribe()
        session = self.session
        try:
            if self.liveness.unfinished:
                await self.liveness.finish_leaving()
            await both(session.client.execute("DEL", session.keys.alive(session.server_id)),
                       session.client.execute("SREM", session.keys.servers, session.server_id))
        except StoreUnavailable as exc:
            log.warning("closing: %s", exc)
        if self.channels.flush_due:
            self.channels.flush()
        await session.close()

    def _later(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- subscribing, and starting over ----------------------------------------------------------
    async def _subscribe(self) -> None:
        """Subscribe, then load the snapshot (re-registering this server's people first if
        this is a new subscription: Redis may have come back empty)."""
        held = await self.channels.subscribe()
        if self.subscriptions:
            await self.rebuilder.reregister()
        await self.channels.load_snapshot(held)
        self.subscriptions += 1
        self._subscribed.set()

    async def subscribed(self, times: int, timeout: float = 10) -> None:
        """Wait until this store has subscribed (and loaded a snapshot) ``times`` times in all:
        once at start, once more after each time Redis went away."""
        await until(self._subscribed, lambda: self.subscriptions >= times, timeout)

    def _subscription_lost(self) -> None:
        """Redis went away: announcements may be lost, so subscribe and load a snapshot anew."""
        if not self._running:
            return
        log.warning("Redis subscription lost (%s); subscribing again",
                    self.session.options.where)
        self._later(self._resubscribe())

    async def _resubscribe(self) -> None:
        while self._running:
            await asyncio.sleep(0.5)
            try:
                await self._subscribe()
                return
            except StoreUnavailable as exc:
                log.warning("cannot subscribe to Redis (%s); retrying", exc)

    def _recovered(self) -> None:
        """The command connection opened again after a failure: announcements may have been
        lost, here and elsewhere. Reload this replica, and have the others reload theirs."""
        if not self._running:
            return
        log.warning("Redis answers again (%s); reloading the rooms", self.session.options.where)
        self._later(self._resync(measure=True, tell_others=True))

    def _resync_later(self) -> None:
        """Another server asked every replica to reload."""
        self._later(self._resync())

    async def _resync(self, measure: bool = False, tell_others: bool = False) -> None:
        """Make sure Redis knows this server's people, then reload the replica."""
        try:
            if measure:
                await self.session.measure_clock()
            await self.rebuilder.run(tell_others=tell_others)
        except StoreUnavailable as exc:
            log.warning("reloading the rooms: %s", exc)

    async def _restarted(self) -> None:
        """A heartbeat met a Redis that has forgotten everything: write our people back."""
        log.warning("Redis has forgotten everything (restarted empty?); this server "
                    "writes its %d people back", len(self.own))
        await self.rebuilder.run(tell_others=True)

    def _registration(self) -> Registration:
        """What :mod:`.rebuild` writes back: our people, and the newest counters seen."""
        replica = self.replica
        return Registration(rows(self.own, self.own_seq, self.liveness.unfinished),
                            replica.version,
                            max(replica.newest_seq(), max(self.own_seq.values(), default=0)))

    def _registered(self, epoch: str, announcements: list[str]) -> None:
        """Redis took our people back: its epoch is ours now, and each one written back is
        announced as a change of ours."""
        self.session.epoch = epoch
        for announcement in announcements:
            self._announce(announcement)

    # -- changes, in batches ---------------------------------------------------------------------
    async def _change(self, op: str, args: list) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queued:
            loop.call_soon(self._send_changes)
        self._queued.append((op, args, future))
        return await future

    def _send_changes(self) -> None:
        batch, self._queued = self._queued, []
        ops = orjson.dumps([[op, args] for op, args, _ in batch]).decode()
        session = self.session
        session.client.evalsha(scripts.BATCH, lambda reply: self._answered(batch, reply),
                               session.keys.prefix, session.deadline(), ops, session.epoch)

    def _answered(self, batch: list[Change], reply: Any) -> None:
        where = self.session.options.where
        results: list[Any]
        if isinstance(reply, RedisUnavailable):
            results = [reply] * len(batch)
        elif isinstance(reply, Exception):
            results = [RedisUnavailable(f"{where} refused the changes: {reply}")] * len(batch)
        elif reply == "LATE":
            results = [RedisUnavailable(f"{where} answered too late; nothing was changed")
                       ] * len(batch)
        elif reply == "RESTARTED":  # Redis came back empty: re-register, then try again
            self._later(self._retry(batch))
            return
        else:
            results = orjson.loads(reply)
            if not isinstance(results, list) or len(results) != len(batch):
                results = [RedisUnavailable(f"{where} answered {len(batch)} changes with "
                                            f"{reply[:80]!r}")] * len(batch)
        for (op, args, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            elif isinstance(result, list) and result[:1] == ["WAIT"]:  # servers re-registering
                self._later(self._wait_and_retry(op, args, future, result[1]))
            else:
                if isinstance(result, list) and len(result) > 1 and result[0] == "OK":
                    self._announce(result[1])
                future.set_result(result or [])  # (Lua's empty table comes back as {})

    def requeue(self, op: str, args: list, future: asyncio.Future) -> None:
        """Ask for a change again (after Redis restarted, or a wait)."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._send_changes)
        self._queued.append((op, args, future))

    async def _retry(self, batch: list[Change]) -> None:
        """A batch met a Redis without this server's epoch: re-register, then send it again."""
        try:
            await self.rebuilder.run(tell_others=True)
        except StoreUnavailable as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for op, args, future in batch:
            if not future.done():
                self.requeue(op, args, future)

    async def _wait_and_retry(self, op: str, args: list, future: asyncio.Future,
                              ttl_ms: int) -> None:
        """A join met servers re-registering their people: ask again once they are done."""
        await asyncio.sleep(min(int(ttl_ms), scripts.REBUILD_MS) / 1000 + 0.02)
        if not future.done():
            self.requeue(op, args, future)

    def _announce(self, announcement: str) -> None:
        """Apply a change this server just made to its replica and to :attr:`own`, and queue
        the announcement for the others (:mod:`.channels`: it leaves before any message queued
        after it). Called as the answer is read: a message that arrives next, about the room
        someone has just moved out of, finds them in the new one."""
        self.replica.apply_own(announcement)
        event = parse(announcement)
        if event is not None:
            sid = event[1]
            if len(event) == 8 and event[2] == self.session.server_id:
                self.own[sid] = member_of(event[1:])
                self.own_seq[sid] = event[7]
            else:
                self.own.pop(sid, None)
                self.own_seq.pop(sid, None)
        self.channels.announce(announcement)

    # -- the store's questions ------------------------------------------------------------------
    # Changes go to Redis, as atomic scripts that also answer with the room as it now is. Their
    # announcements are applied here at once (the replica sorts out the order), so a relay to
    # or from this server's own people right after a change is checked against the change.
    async def member(self, sid: str) -> Member | None:
        return self.own.get(sid)

    async def members(self, room: str) -> list[Member]:
        """Asked of Redis (every server's people), not the replica."""
        session = self.session
        return self._members(await session.client.run(scripts.ROOM, session.keys.prefix, room))

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        result = await self._change("join_room",
                                    [sid, room, username, user_id or "",
                                     self.session.server_id])
        if result[0] != "OK":
            raise RoomError(user_id_taken(user_id or "", room) if result[1] == "TAKEN"
                            else result[1])
        return self._changed(sid, result)

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member], list[Member]]:
        result = await self._change("join_voice", [sid, room, self.voice_cap])
        if result[0] == "FULL":
            raise VoiceFull()
        if result[0] != "OK":
            raise RoomError(result[1])
        member, members = self._changed(sid, result)
        return member, [m for m in members if m.in_voice and m.sid != sid], members

    async def leave_voice(self, sid: str, room: str | None = None
                          ) -> tuple[Member, list[Member]]:
        result = await self._change("leave_voice", [sid, room or ""])
        if result[0] != "OK":
            raise RoomError(result[1])
        return self._changed(sid, result)

    async def leave_room(self, sid: str) -> tuple[Member | None, list[Member]]:
        try:
            result = await self._change("leave_room", [sid])
        except StoreUnavailable:
            # (the heartbeat retries, and tells the room; not re-registered meanwhile if Redis
            # comes back empty)
            self.liveness.hung_up(sid, self.own.pop(sid, None))
            raise
        self.own.pop(sid, None)
        if not result:
            return None, []
        return member_of(result[3]), self._members(result[2])

    def _changed(self, sid: str, result: list) -> tuple[Member, list[Member]]:
        members = self._members(result[2])
        return next(m for m in members if m.sid == sid), members

    def _members(self, rows: list | dict) -> list[Member]:
        """A room list as a script returns it (member arrays). Where each member's socket is,
        is noted too (:meth:`.channels.Channels.note`): the room is about to be told
        something."""
        note = self.channels.note
        members = []
        for row in rows or ():  # (Lua's empty table comes back as {})
            note(row[0], row[1])
            members.append(member_of(row))
        return members

    def local_room(self, sid: str) -> str | None:
        member = self.own.get(sid)
        return member.room if member is not None else None

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """The relay rule (:func:`..relay.check`), answered by the replica; a refusal is
        confirmed with Redis first (the replica may not know people older than itself)."""
        try:
            return self.replica.check_relay(sid, to)
        except RoomError:
            pass
        session = self.session
        sender, target = await both(
            session.client.execute("HGETALL", session.keys.member(sid)),
            session.client.execute("HGETALL", session.keys.member(to)))
        return relay.check(member_from_hash(sender), to, member_from_hash(target))

    async def counts(self) -> dict:
        session = self.session
        rooms, members, in_voice = await session.client.run(scripts.COUNTS, session.keys.prefix)
        return {"rooms": rooms, "members": members, "inVoice": in_voice}
