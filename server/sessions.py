"""Handshakes that never become clients: bounded in time, in number, and per source address.

An Engine.IO handshake (``GET /socket.io/?EIO=4&transport=polling``) costs the server a session
(a socket object, a queue, a ping timer) before the client has said anything else; the client
then connects to the Socket.IO namespace (``40``) and becomes someone. Stock python-engineio
keeps an abandoned session until its ping timeout, so a flood of 113,074 handshakes in 20 s took
a server from 144 to 1,201 MB. Here (socket.io's server has the same idea as ``connectTimeout``):

* a session that has not connected to the namespace within ``Limits.connect_timeout`` is
  closed, and counts as *abandoned* against its source address (a :class:`~.limits.TokenBucket`
  of ``abandoned_burst``, refilled at ``abandoned_per_second``; past the burst each abandoned
  session is still paid for, in debt down to minus the burst, so the sessions let in while the
  bucket had a token do not go free);
* a new handshake is refused (HTTP 429, with the reason and ``Retry-After``) while its address
  has ``max_pending_per_address`` sessions pending, while the server has ``max_pending``, or
  while its address's bucket of abandoned sessions is empty.

A client that connects at once (every real one: the browser page, talklab's people, the Node
seed client, the storm bench's 1,200 sockets) is pending for a few milliseconds and is never
refused. No I/O here but the callback that closes a session.

Tested in tests/test_abuse.py (a handshake flood is refused and its sessions closed; the default
pending limit lets a storm of 1,200 sockets connect).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable

from .limits import Limits, QuietLog, TokenBucket

log = logging.getLogger("talklab.server.sessions")
SWEEP_STEP = 0.1  # s between sweeps for expired sessions
SWEEP_SLICE = 8  # sessions closed between two turns of the event loop


class Sessions:
    """The pending Engine.IO sessions of one server, by source address."""

    def __init__(self, limits: Limits, close: Callable[[str], Awaitable[None]]) -> None:
        self.limits = limits
        self._close = close
        self._pending: collections.OrderedDict[str, tuple[str, float]] = \
            collections.OrderedDict()  # eio sid -> (address, deadline), oldest first
        self._count: collections.Counter[str] = collections.Counter()  # address -> pending
        self._abandoned: dict[str, TokenBucket] = {}
        self._task: asyncio.Task | None = None
        self._quiet = QuietLog(log, limits.refusal_log_interval)
        self.closed_unconnected = 0  # sessions closed by the timeout (tests and benches read it)
        self.refused = 0  # handshakes refused

    # -- the questions ------------------------------------------------------------------------
    def admit(self, address: str) -> tuple[str, float] | None:
        """``(reason, retry_after_s)`` if a new handshake from ``address`` is refused now."""
        limits = self.limits
        why: tuple[str, float] | None = None
        if self._count[address] >= limits.max_pending_per_address:
            why = (f"{self._count[address]} sessions from {address} have not connected yet "
                   f"(at most {limits.max_pending_per_address})", limits.connect_timeout)
        elif len(self._pending) >= limits.max_pending:
            why = (f"{len(self._pending)} sessions have not connected yet (at most "
                   f"{limits.max_pending})", limits.connect_timeout)
        else:
            bucket = self._abandoned.get(address)
            if bucket is not None and bucket.empty():
                why = (f"too many sessions from {address} never connected; try again later",
                       bucket.wait())
        if why is not None:
            self.refused += 1
            self._quiet("refused:" + address, "refused a handshake: %s", why[0])
        return why

    @property
    def pending(self) -> int:
        return len(self._pending)

    def pending_from(self, address: str) -> int:
        return self._count[address]

    # -- the events ---------------------------------------------------------------------------
    def opened(self, eio_sid: str, address: str) -> None:
        """An Engine.IO session opened (the handshake was answered)."""
        self._pending[eio_sid] = (address, time.monotonic() + self.limits.connect_timeout)
        self._count[address] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._sweep())

    def connected(self, eio_sid: str) -> None:
        """It connected to the namespace: no longer pending."""
        self._forget(eio_sid)

    def closed(self, eio_sid: str) -> None:
        self._forget(eio_sid)

    def _forget(self, eio_sid: str) -> str | None:
        entry = self._pending.pop(eio_sid, None)
        if entry is None:
            return None
        address = entry[0]
        self._count[address] -= 1
        if self._count[address] <= 0:
            del self._count[address]
        return address

    # -- the timeout --------------------------------------------------------------------------
    async def _sweep(self) -> None:
        """Close every session past its deadline, oldest first (deadlines are in order, since
        the timeout is one for all); stop when none is pending.

        A few at a time: under a handshake flood a whole second's abandoned sessions (hundreds)
        closed in one turn of the loop held every relay behind them (bystanders' p99 6x). So
        the sweep runs often and lets the loop turn after every :data:`SWEEP_SLICE` closes."""
        step = min(SWEEP_STEP, self.limits.connect_timeout / 4)
        while self._pending:
            await asyncio.sleep(step)
            now = time.monotonic()
            expired = []
            for eio_sid, (_, deadline) in self._pending.items():
                if deadline > now:
                    break
                expired.append(eio_sid)
            for done, eio_sid in enumerate(expired, 1):
                if done % SWEEP_SLICE == 0:
                    await asyncio.sleep(0)  # (relays waiting behind the sweep go first)
                address = self._forget(eio_sid)
                if address is None:
                    continue
                bucket = self._abandoned.get(address)
                if bucket is None:
                    bucket = self._abandoned[address] = TokenBucket(
                        self.limits.abandoned_burst, self.limits.abandoned_per_second)
                bucket.spend()  # (past the burst, in debt: admit() only checks the bucket,
                self.closed_unconnected += 1  # so what it let in meanwhile is paid for here)
                self._quiet("timeout:" + address, "%s: a session from %s did not connect "
                            "within %g s; closed", eio_sid, address, self.limits.connect_timeout)
                try:
                    await self._close(eio_sid)
                except Exception as exc:  # (already gone)
                    self._quiet("close", "closing %s failed: %r", eio_sid, exc)
            if len(self._abandoned) > 1000:
                for address in [a for a, b in self._abandoned.items() if b.full]:
                    del self._abandoned[address]

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
