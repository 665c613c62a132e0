"""The Redis store's channels: what it hears from the other servers, and what it tells them.

Two Pub/Sub channels per deployment (:mod:`.scripts` names them): ``events`` carries every
server's *announcements* (member changes, applied by every replica: :mod:`..replica`), and
``to:<server>`` the Socket.IO packets other servers send that server's sockets, one line each,
``sid room text`` (``*`` for a packet about no room). Both are published at the end of each turn
of the loop, announcements first, so another server learns of a change before any message sent
because of it. A PUBLISH that reached nobody (the target server is gone) makes its relays
refused to their senders at once (``on_unreachable``).

:class:`Channels` is given, when the store makes it, the :class:`~.session.Session` it talks
through, the :class:`~..replica.Replica` it keeps up to date, and callbacks for what it hears:
packets for this server's sockets (``on_forwarded``), relays that reached nobody
(``on_unreachable``), another server asking every replica to reload (``on_resync``), and the
subscription lost (``on_lost``). What to do then (reload, subscribe again, re-register) is the
store's to decide.

Tested in tests/test_redis_wire.py (messages between two servers keep their order and survive a lost
connection) and tests/test_redis_survival.py (offers to a dead server's people are refused at once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..replica import Replica
from . import scripts
from .session import Session
from .wire import RedisUnavailable, Subscriber, connect

log = logging.getLogger("talklab.server.redis")

RESYNC = "resync"  # on events, instead of announcements: every replica reloads
NO_ROOM = "*"  # a forwarded line's room when it is about none (no room code holds "*")
UNREACHABLE_S = 1.0  # after nobody listened on a server's channel, refuse relays to it this long
Unreachable = list[tuple[str, str, str]]  # (sender, event, target) of relays not delivered
Forwarded = Callable[[Iterable[tuple[str, str | None, str]]], None]  # (sid, room, packet text)


class Channels:
    """Subscribing, applying others' announcements, publishing ours and forwarding packets."""

    def __init__(self, session: Session, replica: Replica, *,
                 on_forwarded: Forwarded | None = None,
                 on_unreachable: Callable[[Unreachable], None] | None = None,
                 on_resync: Callable[[], None] | None = None,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.session = session
        self.replica = replica
        self.on_forwarded = on_forwarded
        self.on_unreachable = on_unreachable
        self.on_resync = on_resync
        self.on_lost = on_lost
        self.forwarded = 0  # messages this server sent on to another server's sockets
        self._server_id = session.server_id
        self._events, self._inbox = session.keys.events, session.keys.to(session.server_id)
        self._subscriber: Subscriber | None = None
        self._on_event: Callable[[str], None] = self._apply_event
        self._hints: dict[str, str] = {}  # sid -> server, from room lists (see note)
        self._announcements: list[str] = []  # this server's changes, in order
        self._outbox: dict[str, list[str]] = {}  # server -> "sid room packet" lines, in order
        self._relays: dict[str, Unreachable] = {}  # server -> relays in its outbox
        self._unreachable: dict[str, float] = {}  # server -> until when relays are refused
        self._flush_due = False
        self._last_warning = 0.0

    # -- announcements and messages from the other servers ---------------------------------------
    async def subscribe(self) -> list[str]:
        """Subscribe to both channels (anew, if subscribed already); RedisUnavailable if Redis
        does not confirm in time. Announcements heard from now on are held in the list
        returned, until it is given to :meth:`load_snapshot` (the replica skips those the
        snapshot already holds)."""
        held: list[str] = []
        self._on_event = held.append
        self.unsubscribe()
        session = self.session
        options, channels = session.options, [self._events, self._inbox]
        subscriber = await connect(options, lambda: Subscriber(options, channels, self._pushed))
        subscriber.on_lost = self._subscription_lost
        self._subscriber = subscriber
        subscriber.subscribe()
        try:
            await asyncio.wait_for(asyncio.shield(subscriber.subscribed),
                                   options.socket_timeout)
        except TimeoutError:
            subscriber.close()
            raise RedisUnavailable(f"{options.where} did not confirm the subscription "
                                   f"within {options.socket_timeout:g} s") from None
        return held

    def unsubscribe(self) -> None:
        """Close the subscription quietly (``on_lost`` is not called)."""
        if self._subscriber is not None:
            self._subscriber.close()

    async def load_snapshot(self, held: list[str] | None = None) -> None:
        """Load every member into the replica, as Redis holds them now, then apply what was
        heard meanwhile (since :meth:`subscribe`, if given what it returned)."""
        if held is None:
            held = []
            self._on_event = held.append
        try:
            version, *announcements = await self.session.client.run(
                scripts.SNAPSHOT, self.session.keys.prefix)
            self.replica.load(int(version), announcements)
        finally:
            self._on_event = self._apply_event
            for data in held:
                self._apply_event(data)

    def _pushed(self, channel: str, data: str) -> None:
        if channel == self._events:
            self._on_event(data)
        elif channel == self._inbox and self.on_forwarded is not None:
            self.on_forwarded([_forwarded(line) for line in data.split("\n")])

    def _apply_event(self, data: str) -> None:
        origin, _, announcements = data.partition("\n")
        if origin == self._server_id:
            return  # our own were applied when made
        if announcements == RESYNC:
            if self.on_resync is not None:
                self.on_resync()
            return
        for announcement in announcements.split("\n"):
            self.replica.apply(announcement)

    def _subscription_lost(self) -> None:
        if self.on_lost is not None:
            self.on_lost()

    # -- publishing, at the end of each turn -----------------------------------------------------
    def announce(self, announcement: str) -> None:
        """Queue an announcement of a change this server made, for the others. It leaves
        before any message queued after it (see :meth:`flush`)."""
        self._announcements.append(announcement)
        self._flush_soon()

    def tell_others_to_resync(self) -> None:
        """Ask every other server to reload its replica."""
        self.session.publisher.call(self._refused, "PUBLISH", self._events,
                                    self._server_id + "\n" + RESYNC)

    def note(self, sid: str, server: str) -> None:
        """``sid``'s socket is on ``server``, as a room list just said: the room is about to be
        told something, and the replica may not have heard of a member who joined on another
        server a moment ago."""
        hints = self._hints
        if len(hints) > 100_000:
            hints.clear()
        hints[sid] = server

    def _flush_soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Publish what this turn of the loop queued: the announcements as one message on
        ``events``, then everything for each server as one message on its channel (one line
        per packet: JSON never holds a raw newline)."""
        self._flush_due = False
        publisher, keys = self.session.publisher, self.session.keys
        if self._announcements:
            publisher.call(self._refused, "PUBLISH", self._events,
                           "\n".join([self._server_id, *self._announcements]))
            self._announcements = []
        for server, lines in self._outbox.items():
            publisher.call(functools.partial(self._published, server,
                                             self._relays.pop(server, None)),
                           "PUBLISH", keys.to(server), "\n".join(lines))
        self._outbox = {}
        self._relays = {}

    @property
    def flush_due(self) -> bool:
        """Something is queued for the end of this turn."""
        return self._flush_due

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
            server = await self.session.client.execute("HGET", self.session.keys.member(sid),
                                                       "server")
        if server is None or server == self._server_id:
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
