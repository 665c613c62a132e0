"""How much any one client may cost the signaling server, and the two small tools that keep it so.

A server on a learner's laptop must survive whatever reaches it: a page in another tab, a
neighbour on the same network, a test gone wrong. Every limit below is a budget for ONE client
(a socket, or a source address), with a default roomy enough for everything talklab itself does
(the storm bench's 1,200 sockets from one address, a 32-person ``nat_matrix`` in one process, a
class of 30 behind one NAT) and small enough that no single client can take the server's memory
or its event loop. Past a limit the client is told why (``signalingError``, or an HTTP status
with a reason) or dropped, and the server logs one line, never a traceback.

:class:`Limits` holds the settings (``SignalingServer(limits=Limits(...))``, or
``talklab-server --limit NAME=VALUE``); :class:`TokenBucket` is the rate limiter ("token bucket",
as in RFC 2697's meters: a burst of ``capacity``, refilled at ``rate`` per second);
:class:`QuietLog` writes at most one line per kind of refusal per interval, and says how many it
kept quiet.

Tested in tests/test_abuse.py (every attack of issue 13 against a server with its production Limits:
the attacker is dropped or refused, and everyone else is still served).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-client budgets of the signaling server (every field has the default shown).

    * ``max_unread_bytes`` (4 MiB): what a client may leave unread, on any transport (a
      long-polling client that does not poll, a WebSocket whose reader stopped). Past it the
      client is dropped.
    * ``max_payload`` (1,000,000): the largest Engine.IO packet, or long-polling request body,
      in bytes (Engine.IO's ``maxPayload``; exactly this many are accepted).
    * ``max_packets_per_post`` (256): packets in one long-polling POST; more is refused (400).
    * ``connect_timeout`` (5 s): an Engine.IO session that has not connected to the Socket.IO
      namespace by then is closed (the Socket.IO server's ``connectTimeout``, shorter).
    * ``max_pending_per_address`` (2,000) and ``max_pending`` (20,000): Engine.IO sessions not
      yet connected to the namespace, per source address and in all. Handshakes past either
      are refused (429).
    * ``abandoned_burst`` (500) and ``abandoned_per_second`` (25): sessions from one address
      that never connected (closed by ``connect_timeout``); once an address has used up the
      burst, its handshakes are refused (429) until the bucket refills (sessions abandoned past
      the burst are paid for too, in debt down to minus the burst).
    * ``room_changes_burst`` (20) and ``room_changes_per_second`` (2): ``joinRoom``,
      ``joinVoice`` and ``leaveVoice`` of one socket; past them ``signalingError`` (one socket
      tried 5,163 room codes a second before).
    * ``refusal_log_interval`` (10 s): one log line per kind of refusal per interval at most.
    """

    max_unread_bytes: int = 4 * 1024 * 1024
    max_payload: int = 1_000_000
    max_packets_per_post: int = 256
    connect_timeout: float = 5.0
    max_pending_per_address: int = 2_000
    max_pending: int = 20_000
    abandoned_burst: int = 500
    abandoned_per_second: float = 25.0
    room_changes_burst: int = 20
    room_changes_per_second: float = 2.0
    refusal_log_interval: float = 10.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, not {value!r}")

    @classmethod
    def parse(cls, settings: list[str]) -> Limits:
        """``["connect_timeout=2", ...]`` (the ``--limit`` option) as Limits; ValueError says
        which one is wrong."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, int | float] = {}
        for item in settings:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in fields:
                raise ValueError(f"{item!r}: expected NAME=VALUE with NAME one of "
                                 f"{', '.join(fields)}")
            kind = int if fields[name].type in ("int", int) else float
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"{item!r}: {text!r} is not a {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` per second; :meth:`take` spends
    one if there is one. Cheap enough for every event of every socket (two floats)."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity, self.rate = float(capacity), float(rate)
        self.tokens = float(capacity)
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def spend(self) -> None:
        """Spend one token whether or not there is one, down to ``-capacity`` at most: what
        already happened (a session abandoned) is paid for, so a source that kept overdrawing
        waits for the debt to be refilled too, not just for the next token."""
        self._refill()
        self.tokens = max(-self.capacity, self.tokens - 1)

    def empty(self) -> bool:
        """True if :meth:`take` would refuse now (and spends nothing)."""
        self._refill()
        return self.tokens < 1

    def wait(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    @property
    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.capacity


class QuietLog:
    """One log line per ``kind`` per ``interval`` seconds at most; the next line says how many
    were kept quiet meanwhile. 21,978 bad events once wrote 5,894 tracebacks: never again."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger, self.interval = logger, interval
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args: object,
                 level: int = logging.INFO) -> bool:
        """Log ``message % args`` unless ``kind`` was logged less than ``interval`` ago.
        Returns whether it was written."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return False
        if len(self._last) > 1000:  # (kinds are a few dozen; never let them grow)
            self._last.clear()
            self._quiet.clear()
        self._last[kind] = now
        quiet = self._quiet.pop(kind, 0)
        if quiet:
            message += f" (and {quiet} more like it in the last %.0f s)"
            args = (*args, now - last if last is not None else 0.0)
        self.logger.log(level, message, *args)
        return True
