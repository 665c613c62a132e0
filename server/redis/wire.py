"""Redis on the wire: RESP written by hand, parsed by hiredis, on two kinds of connection.

A signaling server keeps three connections to Redis, of two kinds:

* two :class:`Client` connections, one for the commands that want an answer (the batched Lua
  changes, the heartbeat, the snapshot, ``/health``) and one for PUBLISH (so that a relay for
  another server never waits in Redis behind a long batch of changes). Commands are pipelined,
  each written the moment it is asked for and each reply handed to its callback the moment
  hiredis has parsed it (Redis answers in order: "Pipelining" in the Redis documentation). A
  client reopens its connection when it is lost, and keeps the order of whatever was asked
  meanwhile;
* one :class:`Subscriber`, on which Redis pushes the messages of the channels it subscribed to
  (a subscribed RESP2 connection takes no other commands).

Why not redis-py: a call through it cost about 75 us of this process's CPU (11 us in a
pipeline of a hundred), and it takes turns of the event loop: a task to start a call, another
to wake on its reply, and a task woken per subscribed message. Under the storm that was most of
what a second server cost (measured; see the README). The wire format is small: a command is an
array of bulk strings (``*<n>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per part).

Every connection honours the URL (:mod:`.url`): it connects (TCP, TLS for ``rediss://``, or a
Unix socket) and logs in (``AUTH [username] password``) and selects the database (``SELECT``)
before anything else is sent, all within ``socket_connect_timeout``; and every command's reply
must arrive within ``socket_timeout``. A Redis that stops answering (stopped, or cut off) thus
makes every pending call fail within that time with :class:`RedisUnavailable`, whose message
says where and why; the connection is dropped and the next call opens another.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import hiredis

from ..store import StoreUnavailable
from .url import RedisOptions

log = logging.getLogger("talklab.server.redis")

Callback = Callable[[Any], None]  # gets the reply, a hiredis.ReplyError, or RedisUnavailable


class RedisUnavailable(StoreUnavailable):
    """Redis could not be reached, did not answer in time, or refused (the message says
    which, and where)."""


def command(*parts: str | bytes | int | float) -> bytes:
    """A Redis command as RESP puts it on the wire: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def both(*calls: Awaitable[Any]) -> list[Any]:
    """The results of several calls sent together; the first failure, raised once all have
    answered (so that no failure is left unretrieved)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class Script:
    """A Lua script, known to Redis by the SHA1 of its text (``EVALSHA``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class Connection(asyncio.Protocol):
    """One connection to Redis: pipelined commands, each reply to its callback, in order.

    Each command must be answered within ``socket_timeout``; if the oldest one is not, every
    callback still waiting gets :class:`RedisUnavailable` and the connection is dropped (a
    reply that came later could no longer be matched to its command).
    """

    def __init__(self, options: RedisOptions) -> None:
        self.options = options
        self.transport: asyncio.Transport | None = None
        self.on_lost: Callable[[], None] | None = None
        self._reader = hiredis.Reader(encoding="utf-8")
        self._pending: collections.deque[tuple[float, Callback]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (a stream transport)

    def send(self, callback: Callback, data: bytes) -> None:
        """Write one encoded command; ``callback`` gets its reply (or the failure)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            callback(RedisUnavailable(f"the connection to {self.options.where} is closed"))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.socket_timeout
        self._pending.append((deadline, callback))
        transport.write(data)
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._check)

    def execute(self, *parts: str | bytes | int | float) -> asyncio.Future:
        """One command; the future is set to its reply (errors as exceptions)."""
        future = asyncio.get_running_loop().create_future()
        self.send(lambda reply: settle(future, reply, self.options, str(parts[0])),
                  command(*parts))
        return future

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except (hiredis.ProtocolError, UnicodeDecodeError) as exc:
                self._drop(RedisUnavailable(f"{self.options.where} sent what is not RESP: {exc}"))
                return
            if reply is False:
                return
            self._reply(reply)

    def _reply(self, reply: Any) -> None:
        if not self._pending:
            log.warning("%s: a reply nobody asked for: %r", self.options.where, reply)
            return
        _, callback = self._pending.popleft()
        try:
            callback(reply)
        except Exception:
            log.exception("handling a reply from Redis failed")

    def _check(self) -> None:
        """The oldest command's deadline has come: answered meanwhile, or give up on all."""
        self._timer = None
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        deadline = self._pending[0][0]
        if loop.time() < deadline:
            self._timer = loop.call_at(deadline, self._check)
            return
        self._drop(RedisUnavailable(f"{self.options.where} did not answer within "
                                    f"{self.options.socket_timeout:g} s"))

    def _drop(self, exc: RedisUnavailable) -> None:
        self._fail(exc)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        while self._pending:
            _, callback = self._pending.popleft()
            try:
                callback(exc)
            except Exception:
                log.exception("handling a failed call to Redis failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail(RedisUnavailable(f"the connection to {self.options.where} was lost"))
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost()

    def close(self) -> None:
        """Close quietly (``on_lost`` is not called)."""
        self.on_lost = None
        if self.transport is not None:
            self.transport.close()


def settle(future: asyncio.Future, reply: Any, options: RedisOptions, what: str) -> None:
    """Set ``future`` from a reply: its value, or an exception that says what went wrong."""
    if future.done():
        return
    if isinstance(reply, RedisUnavailable):
        future.set_exception(reply)
    elif isinstance(reply, Exception):  # an error reply (hiredis.ReplyError)
        future.set_exception(RedisUnavailable(f"{options.where} refused {what}: {reply}"))
    else:
        future.set_result(reply)


C = TypeVar("C", bound="Connection")


async def connect(options: RedisOptions, factory: Callable[[], C]) -> C:
    """Open a connection as the URL says, log in and select the database: within
    ``socket_connect_timeout``, or :class:`RedisUnavailable`."""
    loop = asyncio.get_running_loop()
    made: list[C] = []

    def protocol() -> C:
        made.append(factory())
        return made[-1]

    async def open_and_log_in() -> C:
        if options.path:
            await loop.create_unix_connection(protocol, options.path)
        else:
            await loop.create_connection(protocol, options.host, options.port,
                                         ssl=options.ssl_context())
        conn = made[-1]
        if options.password:
            await conn.execute("AUTH", *filter(None, [options.username]), options.password)
        if options.db:
            await conn.execute("SELECT", options.db)
        return conn

    try:
        return await asyncio.wait_for(open_and_log_in(), options.socket_connect_timeout)
    except BaseException as exc:
        for conn in made:
            conn.close()
        if isinstance(exc, RedisUnavailable):
            raise
        if isinstance(exc, TimeoutError):
            raise RedisUnavailable(f"{options.where} did not answer within "
                                   f"{options.socket_connect_timeout:g} s (connecting)") from None
        if isinstance(exc, ssl.SSLError):
            raise RedisUnavailable(f"TLS with {options.where} failed: {exc}") from None
        if isinstance(exc, OSError):
            raise RedisUnavailable(f"cannot connect to {options.where}: "
                                   f"{exc.strerror or exc}") from None
        raise


class Client:
    """A server's one command connection to Redis, opened when first needed and reopened
    after it is lost. Calls made while it opens wait for it, in order; if it cannot be
    opened, they fail with the reason. ``on_recovered`` is called when a connection opens
    after one failed (anything published meanwhile may be lost)."""

    def __init__(self, options: RedisOptions, scripts: Sequence[Script] = ()) -> None:
        self.options = options
        self.scripts = list(scripts)
        self.on_recovered: Callable[[], None] | None = None
        self._conn: Connection | None = None
        self._opening: asyncio.Task | None = None
        self._waiting: list[tuple[Callback, bytes]] = []
        self._broken = False  # a connection failed since the last one opened
        self._closed = False

    def call(self, callback: Callback, *parts: str | bytes | int | float) -> None:
        """Send a command now (or as soon as the connection is open); never awaits."""
        self._send(callback, command(*parts))

    def _send(self, callback: Callback, data: bytes) -> None:
        conn = self._conn
        if conn is not None and conn.usable and not self._waiting:
            conn.send(callback, data)
            return
        if self._closed:
            callback(RedisUnavailable(f"the connection to {self.options.where} is closed"))
            return
        self._waiting.append((callback, data))
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())

    async def execute(self, *parts: str | bytes | int | float) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.call(lambda reply: settle(future, reply, self.options, str(parts[0])), *parts)
        return await future

    def evalsha(self, script: Script, callback: Callback, *args: str | bytes | int) -> None:
        """Run ``script`` with no KEYS and ``args`` as ARGV. If Redis has forgotten it (a
        restart, or SCRIPT FLUSH), it runs again as EVAL, which also teaches it to Redis."""
        def answered(reply: Any) -> None:
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                self.call(callback, "EVAL", script.source, 0, *args)
            else:
                callback(reply)
        self.call(answered, "EVALSHA", script.sha, 0, *args)

    async def run(self, script: Script, *args: str | bytes | int) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.evalsha(script, lambda reply: settle(future, reply, self.options, "a script"),
                     *args)
        return await future

    async def _open(self) -> None:
        try:
            conn = await connect(self.options, lambda: Connection(self.options))
            for script in self.scripts:  # so that EVALSHA finds them
                if await conn.execute("SCRIPT", "LOAD", script.source) != script.sha:
                    conn.close()
                    raise RedisUnavailable(f"{self.options.where} loaded a script under "
                                           "another SHA1")
        except Exception as exc:  # (whatever it is, nobody may be left waiting)
            failure = exc if isinstance(exc, RedisUnavailable) else RedisUnavailable(
                f"cannot open a connection to {self.options.where}: {exc!r}")
            self._opening = None
            self._broken = True
            waiting, self._waiting = self._waiting, []
            for callback, _ in waiting:
                callback(failure)
            return
        self._opening = None
        if self._closed:
            conn.close()
            return
        conn.on_lost = self._lost
        self._conn = conn
        while self._waiting:  # (a callback may ask for more)
            waiting, self._waiting = self._waiting, []
            for callback, data in waiting:
                conn.send(callback, data)
        if self._broken:
            self._broken = False
            if self.on_recovered is not None:
                self.on_recovered()

    def _lost(self) -> None:
        self._broken = True
        self._conn = None

    async def close(self) -> None:
        """Wait (within ``socket_timeout``) until what was sent is answered, then close."""
        conn = self._conn
        if conn is not None and conn.usable and not self._closed:
            with contextlib.suppress(RedisUnavailable):
                await self.execute("PING")
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
        waiting, self._waiting = self._waiting, []
        for callback, _ in waiting:
            callback(RedisUnavailable(f"the connection to {self.options.where} is closed"))
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Subscriber(Connection):
    """SUBSCRIBE on a connection of its own; each published message is handed over the moment
    it is read, in the same turn of the event loop. ``on_lost`` is called if Redis closes it."""

    def __init__(self, options: RedisOptions, channels: list[str],
                 on_message: Callable[[str, str], None]) -> None:
        super().__init__(options)
        self.channels, self.on_message = channels, on_message
        self.subscribed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pushing = False

    def subscribe(self) -> None:
        """Subscribe (after :func:`connect` has logged in); ``subscribed`` is set once Redis
        has confirmed every channel."""
        self._pushing = True
        if self.transport is not None:
            self.transport.write(command("SUBSCRIBE", *self.channels))

    def _reply(self, reply: Any) -> None:
        if not self._pushing:
            super()._reply(reply)
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == "message":
            try:
                self.on_message(reply[1], reply[2])
            except Exception:  # one bad message must not end the subscription
                log.exception("handling a message from Redis failed")
        elif isinstance(reply, list) and reply[:1] == ["subscribe"]:
            if reply[2] == len(self.channels) and not self.subscribed.done():
                self.subscribed.set_result(None)
        elif isinstance(reply, hiredis.ReplyError):
            log.warning("%s refused the subscription: %s", self.options.where, reply)
            if not self.subscribed.done():
                self.subscribed.set_exception(RedisUnavailable(
                    f"{self.options.where} refused SUBSCRIBE: {reply}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(RedisUnavailable(
                f"{self.options.where} closed the subscription"))
            self.subscribed.exception()  # (retrieved: whoever waited has been told)
        super().connection_lost(exc)
