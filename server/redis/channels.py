"""The Redis store's channels: what it hears from the other servers, and what it tells them.

Two Pub/Sub channels per deployment (:mod:`.scripts` names them): ``events`` carries every
server's *announcements* (member changes, applied by every replica: :mod:`..replica`), and
``to:<server>`` the Socket.IO packets other servers send that server's sockets, one line each,
``sid room text`` (``*`` for a packet about no room). Both are published at the end of each turn
of the loop, announcements first, so another server learns of a change before any message sent
because of it. A PUBLISH that reached nobody (the target server is gone) makes its relays
refused to their senders at once (``on_unreachable``).

:class:`Channels` is that half of :class:`~.store.RedisStore` (a mixin: the store holds the
connections and the replica).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..replica import Replica, member_of, parse
from ..rooms import Member
from ..store import StoreUnavailable
from . import scripts
from .wire import Client, RedisUnavailable, Subscriber, connect

log = logging.getLogger("talklab.server.redis")

RESYNC = "resync"  # on events, instead of announcements: every replica reloads
NO_ROOM = "*"  # a forwarded line's room when it is about none (no room code holds "*")
UNREACHABLE_S = 1.0  # after nobody listened on a server's channel, refuse relays to it this long
Unreachable = list[tuple[str, str, str]]  # (sender, event, target) of relays not delivered


class Channels:
    """Subscribing, applying others' announcements, publishing ours and forwarding packets."""

    keys: Any
    options: Any
    server_id: str
    replica: Replica
    client: Client
    publisher: Client
    rebuilder: Any
    own: dict[str, Member]
    own_seq: dict[str, int]
    forwarded: int
    on_forwarded: Callable[[Iterable[tuple[str, str | None, str]]], None] | None
    on_unreachable: Callable[[Unreachable], None] | None
    subscriptions: int
    _subscribed: asyncio.Event
    _subscriber: Subscriber | None
    _events: str
    _inbox: str
    _on_event: Callable[[str], None]
    _hints: dict[str, str]
    _announcements: list[str]
    _outbox: dict[str, list[str]]
    _relays: dict[str, Unreachable]
    _unreachable: dict[str, float]
    _flush_due: bool
    _running: bool
    _last_warning: float

    def _later(self, job: Awaitable[None]) -> None: ...  # (the store's)

    async def _resync(self, measure: bool = False, tell_others: bool = False) -> None: ...

    # -- announcements and messages from the other servers ---------------------------------------
    async def _subscribe(self) -> None:
        """Subscribe, then load the snapshot. Announcements made in between are held, and the
        replica skips those the snapshot already holds."""
        held: list[str] = []
        self._on_event = held.append
        if self._subscriber is not None:
            self._subscriber.close()  # (quietly: it does not call _subscription_lost)
        channels = [self.keys.events, self.keys.to(self.server_id)]
        subscriber = await connect(self.options,
                                   lambda: Subscriber(self.options, channels, self._pushed))
        subscriber.on_lost = self._subscription_lost
        self._subscriber = subscriber
        subscriber.subscribe()
        try:
            await asyncio.wait_for(asyncio.shield(subscriber.subscribed),
                                   self.options.socket_timeout)
        except TimeoutError:
            subscriber.close()
            raise RedisUnavailable(f"{self.options.where} did not confirm the subscription "
                                   f"within {self.options.socket_timeout:g} s") from None
        if self.subscriptions:  # (subscribed again: Redis may have come back empty)
            await self.rebuilder.reregister()
        await self._load_snapshot(held)
        self.subscriptions += 1
        self._subscribed.set()

    async def _load_snapshot(self, held: list[str] | None = None) -> None:
        if held is None:
            held = []
            self._on_event = held.append
        try:
            version, *announcements = await self.client.run(scripts.SNAPSHOT, self.keys.prefix)
            self.replica.load(int(version), announcements)
        finally:
            self._on_event = self._apply_event
            for data in held:
                self._apply_event(data)

    async def subscribed(self, times: int, timeout: float = 10) -> None:
        """Wait until this store has subscribed (and loaded a snapshot) ``times`` times in all:
        once at start, once more after each time Redis went away."""
        async def wait() -> None:
            while self.subscriptions < times:
                self._subscribed.clear()
                await self._subscribed.wait()
        await asyncio.wait_for(wait(), timeout)

    def _pushed(self, channel: str, data: str) -> None:
        if channel == self._events:
            self._on_event(data)
        elif channel == self._inbox and self.on_forwarded is not None:
            self.on_forwarded([_forwarded(line) for line in data.split("\n")])

    def _apply_event(self, data: str) -> None:
        origin, _, announcements = data.partition("\n")
        if origin == self.server_id:
            return  # our own were applied when made
        if announcements == RESYNC:
            self._later(self._resync())
            return
        for announcement in announcements.split("\n"):
            self.replica.apply(announcement)

    def _subscription_lost(self) -> None:
        """Redis went away: announcements may be lost, so subscribe and load a snapshot anew."""
        if not self._running:
            return
        log.warning("Redis subscription lost (%s); subscribing again", self.options.where)
        self._later(self._resubscribe())

    async def _resubscribe(self) -> None:
        while self._running:
            await asyncio.sleep(0.5)
            try:
                await self._subscribe()
                return
            except StoreUnavailable as exc:
                log.warning("cannot subscribe to Redis (%s); retrying", exc)

    # -- publishing, at the end of each turn -----------------------------------------------------
    def _announce(self, announcement: str) -> None:
        """Apply a change this server just made to its replica and to :attr:`own`, and queue
        the announcement for the others. It leaves before any message queued after it (see
        _flush). Called as the answer is read: a message that arrives next, about the room
        someone has just moved out of, finds them in the new one."""
        self.replica.apply_own(announcement)
        event = parse(announcement)
        if event is not None:
            sid = event[1]
            if len(event) == 8 and event[2] == self.server_id:
                self.own[sid] = member_of(event[1:])
                self.own_seq[sid] = event[7]
            else:
                self.own.pop(sid, None)
                self.own_seq.pop(sid, None)
        self._announcements.append(announcement)
        self._flush_soon()

    def local_room(self, sid: str) -> str | None:
        member = self.own.get(sid)
        return member.room if member is not None else None

    def _flush_soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Publish what this turn of the loop queued: the announcements as one message on
        ``events``, then everything for each server as one message on its channel (one line
        per packet: JSON never holds a raw newline)."""
        self._flush_due = False
        if self._announcements:
            self.publisher.call(self._refused, "PUBLISH", self.keys.events,
                             "\n".join([self.server_id, *self._announcements]))
            self._announcements = []
        for server, lines in self._outbox.items():
            self.publisher.call(functools.partial(self._published, server,
                                                  self._relays.pop(server, None)),
                                "PUBLISH", self.keys.to(server), "\n".join(lines))
        self._outbox = {}
        self._relays = {}

    def _published(self, server: str, relays: Unreachable | None, reply: Any) -> None:
        """PUBLISH answers how many subscribers received the message: 0 means the server it
        was for is gone (killed; its subscription closed with it). Its relays are refused to
        their senders now, and the next ones for :data:`UNREACHABLE_S` without publishing."""
        if isinstance(reply, Exception):
            self._refused(reply)
        elif reply == 0:
            self._unreachable[server] = time.monotonic() + UNREACHABLE_S
            if relays and self.on_unreachable is not None:
                self.on_unreachable(relays)

    def _refused(self, reply: Any) -> None:
        if isinstance(reply, Exception):
            now = time.monotonic()
            if now - self._last_warning > 5:  # (once in a while, not once per message)
                self._last_warning = now
                log.warning("publishing to Redis failed: %s", reply)

    async def forward(self, sid: str, text: str, room: str | None = None,
                      relay: tuple[str, str] | None = None) -> None:
        """Deliver a Socket.IO packet to ``sid`` on whichever server holds its socket, as a
        line ``sid room text`` (``*`` for no room). ``relay``: ``(sender, event)``, told at
        once if that server is gone."""
        server = self.replica.server_of.get(sid) or self._hints.get(sid)
        if server is None:
            server = await self.client.execute("HGET", self.keys.member(sid), "server")
        if server is None or server == self.server_id:
            return  # gone (if it were ours and connected, it would not come here)
        if self._unreachable.get(server, 0.0) > time.monotonic():
            if relay is not None and self.on_unreachable is not None:
                self.on_unreachable([(relay[0], relay[1], sid)])
            return
        self.forwarded += 1  # a message that crosses to another server, through Redis
        self._outbox.setdefault(server, []).append(f"{sid} {room or NO_ROOM} {text}")
        if relay is not None:
            self._relays.setdefault(server, []).append((relay[0], relay[1], sid))
        self._flush_soon()


def _forwarded(line: str) -> tuple[str, str | None, str]:
    """``(sid, room or None, text)`` from a forwarded line ``sid room text``."""
    sid, _, rest = line.partition(" ")
    room, _, text = rest.partition(" ")
    return sid, None if room == NO_ROOM else room, text

