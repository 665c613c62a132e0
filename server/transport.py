"""What every Engine.IO socket of talklab's server gets, on either WebSocket path: a memory
budget, and long-polling requests refused clearly.

Engine.IO (the layer under Socket.IO) keeps, per session, a queue of packets waiting for the
client: a long-polling client takes them with its next GET; a WebSocket's writer task takes them
as fast as the client reads. Stock python-engineio never bounds that queue, so a client that
stops reading while it keeps the session alive ("blind" pongs, Engine.IO protocol v4, "Heartbeat")
made the server hold 1.5 GB in 8 s. Here:

* :class:`BudgetQueue` counts the bytes in the queue; past ``Limits.max_unread_bytes`` the
  client is dropped, with one log line. That covers long-polling, a WebSocket upgraded from
  long-polling (python-engineio's own writer, which blocks on a client that does not read), and
  the whole of python-engineio's own loop. (talklab's direct WebSocket path,
  :class:`.engine.DirectSocket`, bypasses the queue and bounds its transport's buffer instead.)
* :meth:`GuardedSocket.handle_post_request` takes up to ``Limits.max_packets_per_post`` packets
  in one POST and refuses more with 400 and the reason (stock python-engineio answered 200 and
  dropped all of them, with a traceback in the log).
* a WebSocket message of exactly ``Limits.max_payload`` bytes is accepted (aiohttp's limit is
  exclusive, Engine.IO's ``maxPayload`` inclusive): see :data:`guarded`.

python-engineio makes its sockets itself; the server swaps each new socket's class (it adds
methods only) and its queue, right after the handshake (:meth:`GuardedSocket.adopt`).

Tested in tests/test_abuse.py (a long-polling client, or an upgraded one, that never reads is
dropped; a busy loop keeps nothing more for a client it has decided to drop) and
tests/test_security.py (a long-polling batch over the limit refused clearly; the
payload limit is exactly 1,000,000 bytes).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from aiohttp import web
from engineio import payload
from engineio.async_socket import AsyncSocket

from .limits import Limits, QuietLog

log = logging.getLogger("talklab.server.transport")
_quiet = QuietLog(log)  # (for sockets of a server that has none of its own)

# True while one of talklab's sockets answers a request: the WebSocket made meanwhile accepts
# a message of exactly max_payload bytes (see fastpath.patch_websocket_response).
guarded: contextvars.ContextVar[bool] = contextvars.ContextVar("talklab_guarded", default=False)

# the aiohttp request key under which a refusal's reason is left for the middleware
REFUSED = web.RequestKey("talklab_refused", str)


def limits_of(server: Any) -> Limits:
    """The :class:`Limits` of an Engine.IO server (talklab's servers carry theirs)."""
    return getattr(server, "talklab_limits", None) or Limits()


def quiet_of(server: Any) -> QuietLog:
    """The rate-limited log of an Engine.IO server's transport (one per server)."""
    return getattr(server, "talklab_quiet", None) or _quiet


def packet_size(pkt: Any) -> int:
    """About how many bytes a queued packet will take on the wire."""
    if pkt is None:
        return 0
    data = getattr(pkt, "data", None)
    if isinstance(data, (str, bytes)):
        return len(data) + 2
    return 128  # (an OPEN packet's dict, a NOOP, a PING)


class BudgetQueue(asyncio.Queue):
    """An Engine.IO socket's outgoing queue that knows how many bytes it holds, and drops its
    socket when they pass ``budget``."""

    def __init__(self, sock: AsyncSocket, budget: int) -> None:
        super().__init__()
        self.sock, self.budget = sock, budget
        self.bytes = 0
        self.over = False
        self.dropping: asyncio.Future | None = None

    def put_nowait(self, item: Any) -> None:
        """Queue ``item``; past the budget, decide the drop here and now. The drop itself is a
        task (closing a socket awaits), and a busy loop runs many handlers before it: each
        could queue another 60 kB offer for a client already condemned. So the packets held
        are thrown away at once, and nothing but the end-of-stream ``None`` is queued after."""
        if self.over and item is not None:
            return
        super().put_nowait(item)
        self.bytes += packet_size(item)
        if self.bytes > self.budget and not self.over:
            self.over = True
            quiet_of(self.sock.server)(
                "unread", "%s: client left %d bytes unread (limit %d); dropping it",
                self.sock.sid, self.bytes, self.budget, level=logging.WARNING)
            empty(self)
            self.dropping = asyncio.ensure_future(drop(self.sock))

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        self.bytes -= packet_size(item)
        return item


def empty(queue: asyncio.Queue) -> None:
    """Throw away everything queued (its memory is freed now)."""
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()


async def drop(sock: AsyncSocket) -> None:
    """Close a socket at once, without waiting for a client that does not read, and forget it.
    Whatever it had queued is thrown away (so its memory is freed now)."""
    queue = sock.queue
    if isinstance(queue, BudgetQueue):
        queue.over = True  # (nothing more is kept for it, see BudgetQueue.put_nowait)
    empty(queue)
    try:
        await sock.close(wait=False, abort=True)
    except Exception as exc:  # (a socket already half gone)
        quiet_of(sock.server)("drop", "%s: closing failed: %r", sock.sid, exc)
    queue.put_nowait(None)  # end a pending long-polling GET, or the writer task
    sock.server.sockets.pop(sock.sid, None)


class _Batch(payload.Payload):
    """A long-polling payload; its ``max_decode_packets`` is set per request."""


class GuardedSocket(AsyncSocket):
    """python-engineio's socket with a memory budget and clear long-polling refusals."""

    @classmethod
    def adopt(cls, sock: AsyncSocket) -> bool:
        """Turn python-engineio's freshly made socket into one of this class, and give it a
        :class:`BudgetQueue` (holding whatever was queued: the OPEN packet). Returns whether
        it did."""
        if type(sock) is not AsyncSocket and not isinstance(sock, cls):
            return False
        if type(sock) is AsyncSocket:
            sock.__class__ = cls
        old = sock.queue
        if not isinstance(old, BudgetQueue):
            new = BudgetQueue(sock, limits_of(sock.server).max_unread_bytes)
            while not old.empty():
                new.put_nowait(old.get_nowait())
                old.task_done()
            sock.queue = new
        return True

    async def handle_get_request(self, environ: dict) -> Any:
        token = guarded.set(True)
        try:
            return await super().handle_get_request(environ)
        finally:
            guarded.reset(token)

    async def handle_post_request(self, environ: dict) -> None:
        """Receive a long-polling POST: at most ``max_payload`` bytes and
        ``max_packets_per_post`` packets, all decoded before any is handled. Anything else is
        refused: 400 with the reason (see :func:`refuse`), and the session is closed, as
        engine.io's own server does with a payload over its limit (at once: python-engineio's
        own refusal waited for the client to collect a CLOSE packet it would never ask for)."""
        limits = limits_of(self.server)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        why = None
        if length > limits.max_payload:
            why = f"a request of {length} bytes is over the limit of {limits.max_payload}"
        else:
            body = (await environ["wsgi.input"].read(length)).decode("utf-8", "replace")
            batch = _Batch()
            batch.max_decode_packets = limits.max_packets_per_post
            try:
                batch.decode(body)
            except ValueError as exc:
                why = (f"{body.count(chr(0x1E)) + 1} packets in one request; at most "
                       f"{limits.max_packets_per_post}" if "Too many packets" in str(exc)
                       else f"not an Engine.IO payload ({exc})")  # (U+001E separates them)
            except Exception as exc:  # (a packet python-engineio cannot decode)
                why = f"not an Engine.IO payload ({exc!r})"
        if why is not None:
            refuse(self.server, environ, why)
            await drop(self)
            return
        for pkt in batch.packets:
            await self.receive(pkt)


def refuse(server: Any, environ: dict, reason: str) -> None:
    """Refuse a long-polling request: its answer is 400 with ``reason`` (the middleware of
    :mod:`.http` writes it), with one log line."""
    quiet_of(server)("post", "refused a long-polling request: %s", reason)
    request = environ.get("aiohttp.request")
    if request is not None:
        request[REFUSED] = reason

