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
* **Announcements and messages** for other servers are published at the end of each turn:
  announcements first, on ``events``, then each other server's messages on its own channel.
  Redis delivers them in that order, so another server learns of a change before any message
  sent because of it. Every server applies the others' announcements to its replica.
* **Relays** are checked against the replica (:mod:`..relay`'s rule); a refusal is confirmed
  with Redis first (a replica may not know people older than itself).
* **Liveness** (:mod:`.liveness`): heartbeats, and freeing a dead server's seats.

All of it goes over three connections of two kinds (:mod:`.wire`): two command connections
(one for commands that want an answer, one for PUBLISH) and one subscribed.

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
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from .. import relay
from ..replica import Replica, member_of
from ..rooms import Member, RoomError, Rooms, VoiceFull, user_id_taken
from ..store import StoreUnavailable
from . import scripts
from .channels import RESYNC, Channels, Unreachable
from .liveness import Gone, Liveness
from .rebuild import Rebuilder
from .scripts import PREFIX, Keys, member_from_hash
from .url import parse_url
from .wire import Client, RedisUnavailable, Subscriber, both

log = logging.getLogger("talklab.server.redis")



class RedisStore(Channels):
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
                 on_forwarded: Callable[[Iterable[tuple[str, str | None, str]]], None]
                 | None = None,
                 on_unreachable: Callable[[Unreachable], None] | None = None,
                 prefix: str = PREFIX) -> None:
        self.options = parse_url(url)  # (a RedisURLError, before anything connects)
        self.voice_cap = voice_cap
        self.server_id = uuid.uuid4().hex[:12]
        self.keys = Keys(prefix, self.options.db)
        self._events, self._inbox = self.keys.events, self.keys.to(self.server_id)
        # Commands that want an answer, and PUBLISH, which does not: on connections of their
        # own, so that a relay forwarded to another server never waits in Redis behind a long
        # batch of changes (Redis runs one connection's commands in order).
        self.client = Client(self.options, scripts.SCRIPTS)
        self.publisher = Client(self.options)
        self.client.on_recovered = self.publisher.on_recovered = self._recovered
        self.replica = Replica()
        self.liveness = Liveness(self, on_reaped)
        self.on_forwarded = on_forwarded
        self.forwarded = 0  # messages this server sent on to another server's sockets
        self.on_unreachable = on_unreachable
        self.epoch = ""  # the data set's, as this server knows it (see scripts: REREGISTER)
        self.own: dict[str, Member] = {}  # this server's people, as its changes left them
        self.own_seq: dict[str, int] = {}  # their join order
        self.departing: dict[str, Member] = {}  # hung up while Redis did not answer
        self.rebuilder = Rebuilder(self)
        self._relays: dict[str, Unreachable] = {}  # server -> relays in its outbox
        self._unreachable: dict[str, float] = {}  # server -> until when relays are refused
        self.subscriptions = 0  # how many times it has subscribed and loaded a snapshot
        self._subscribed = asyncio.Event()
        self._subscriber: Subscriber | None = None
        self._hints: dict[str, str] = {}  # sid -> server, from room lists (see _members)
        self._queued: list[tuple[str, list, asyncio.Future]] = []  # changes for this turn
        self._announcements: list[str] = []  # this server's changes, in order
        self._outbox: dict[str, list[str]] = {}  # server -> "sid packet" lines, in order
        self._flush_due = False
        self._offset_ms = 0.0  # Redis's clock minus ours
        self._on_event: Callable[[str], None] = self._apply_event
        self._tasks: set[asyncio.Task] = set()
        self._running = False
        self._last_warning = 0.0

    @property
    def rooms(self) -> Rooms:
        """The replica's rooms: this process's view of every server's people."""
        return self.replica.rooms

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, subscribe, load the rooms and start the heartbeat; RedisUnavailable (with
        the reason) if Redis cannot be reached or refuses."""
        self._running = True
        await self._measure_clock()
        self.epoch = await self.client.run(scripts.EPOCH, self.keys.prefix, uuid.uuid4().hex)
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
        if self._subscriber is not None:
            self._subscriber.close()
        try:
            if self.liveness.unfinished:
                await self.liveness.finish_leaving()
            await both(self.client.execute("DEL", self.keys.alive(self.server_id)),
                       self.client.execute("SREM", self.keys.servers, self.server_id))
        except StoreUnavailable as exc:
            log.warning("closing: %s", exc)
        if self._flush_due:
            self._flush()
        await self.publisher.close()
        await self.client.close()

    def _later(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _measure_clock(self) -> None:
        before = time.time()
        seconds, micros = await self.client.execute("TIME")
        after = time.time()
        self._offset_ms = int(seconds) * 1000 + int(micros) / 1000 - (before + after) * 500

    def deadline(self) -> int:
        """When a batch sent now stops being worth running, in ms on Redis's clock: a little
        before the client gives up on it (see :mod:`.scripts`)."""
        timeout = self.options.socket_timeout
        return int((time.time() + timeout - min(timeout / 4, 0.5)) * 1000 + self._offset_ms)

    def _recovered(self) -> None:
        """The command connection opened again after a failure: announcements may have been
        lost, here and elsewhere. Reload this replica, and have the others reload theirs."""
        if not self._running:
            return
        log.warning("Redis answers again (%s); reloading the rooms", self.options.where)
        self._later(self._resync(measure=True, tell_others=True))

    def tell_others_to_resync(self) -> None:
        self.publisher.call(self._refused, "PUBLISH", self.keys.events,
                            self.server_id + "\n" + RESYNC)

    async def _resync(self, measure: bool = False, tell_others: bool = False) -> None:
        """Make sure Redis knows this server's people, then reload the replica."""
        try:
            if measure:
                await self._measure_clock()
            await self.rebuilder.run(tell_others=tell_others)
        except StoreUnavailable as exc:
            log.warning("reloading the rooms: %s", exc)

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
        self.client.evalsha(scripts.BATCH, lambda reply: self._answered(batch, reply),
                            self.keys.prefix, self.deadline(), ops, self.epoch)

    def _answered(self, batch: list[tuple[str, list, asyncio.Future]], reply: Any) -> None:
        where = self.options.where
        results: list[Any]
        if isinstance(reply, RedisUnavailable):
            results = [reply] * len(batch)
        elif isinstance(reply, Exception):
            results = [RedisUnavailable(f"{where} refused the changes: {reply}")] * len(batch)
        elif reply == "LATE":
            results = [RedisUnavailable(f"{where} answered too late; nothing was changed")
                       ] * len(batch)
        elif reply == "RESTARTED":  # Redis came back empty: re-register, then try again
            self._later(self.rebuilder.retry(batch))
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
                self._later(self.rebuilder.wait_and_retry(op, args, future, result[1]))
            else:
                if isinstance(result, list) and len(result) > 1 and result[0] == "OK":
                    self._announce(result[1])
                future.set_result(result or [])  # (Lua's empty table comes back as {})

    def requeue(self, op: str, args: list, future: asyncio.Future) -> None:
        """Ask for a change again (after Redis restarted, or a wait)."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._send_changes)
        self._queued.append((op, args, future))

    # -- the store's questions ------------------------------------------------------------------
    # Changes go to Redis, as atomic scripts that also answer with the room as it now is. Their
    # announcements are applied here at once (the replica sorts out the order), so a relay to
    # or from this server's own people right after a change is checked against the change.
    async def member(self, sid: str) -> Member | None:
        return self.own.get(sid)

    async def members(self, room: str) -> list[Member]:
        """Asked of Redis (every server's people), not the replica."""
        return self._members(await self.client.run(scripts.ROOM, self.keys.prefix, room))

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> tuple[Member, list[Member]]:
        result = await self._change("join_room",
                                    [sid, room, username, user_id or "", self.server_id])
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
            self.liveness.unfinished.add(sid)  # (the heartbeat retries, and tells the room)
            member = self.own.pop(sid, None)  # (not re-registered if Redis comes back empty)
            if member is not None:
                self.departing[sid] = member
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
        is noted too: the room is about to be told something, and this server's replica may
        not have heard of a member who joined on another server a moment ago."""
        if len(self._hints) > 100_000:
            self._hints.clear()
        members = []
        for row in rows or ():  # (Lua's empty table comes back as {})
            self._hints[row[0]] = row[1]
            members.append(member_of(row))
        return members

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """The relay rule (:func:`..relay.check`), answered by the replica; a refusal is
        confirmed with Redis first (the replica may not know people older than itself)."""
        try:
            return self.replica.check_relay(sid, to)
        except RoomError:
            pass
        sender, target = await both(
            self.client.execute("HGETALL", self.keys.member(sid)),
            self.client.execute("HGETALL", self.keys.member(to)))
        return relay.check(member_from_hash(sender), to, member_from_hash(target))

    async def counts(self) -> dict:
        rooms, members, in_voice = await self.client.run(scripts.COUNTS, self.keys.prefix)
        return {"rooms": rooms, "members": members, "inVoice": in_voice}
