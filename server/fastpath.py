"""The fast WebSocket path, and the check that makes it honest.

talklab's signaling server is python-socketio on python-engineio on aiohttp. Two changes make
it several times faster under a storm of joins (see :mod:`.engine` and the README's storm
table), and each one reaches into another library's internals:

1. every new Engine.IO socket becomes a :class:`.engine.DirectSocket` (a class swap made in
   python-socketio's private ``_handle_eio_connect``; the socket then overrides
   python-engineio's private ``_websocket_handler``, drains its ``queue``, and reads the
   aiohttp driver's ``ws._sock`` and the request's transport);
2. WebSocket upgrades decline permessage-deflate (RFC 7692): the aiohttp driver builds its
   ``WebSocketResponse`` through a module global, which is swapped for a subclass that turns
   compression off, but only for talklab's own sockets (:func:`patch_websocket_response`).

The versions are pinned in ``pyproject.toml``, but a pin can be overridden (an environment that
already has another python-engineio, a Binder image built with other constraints). So before
any of this is used, :func:`problems` checks that every internal it needs is there, with the
shape it needs: classes, attributes, and the signatures of the methods it overrides or calls
(``AsyncSocket.close(wait, abort, reason)`` for one). If anything is missing, the server logs
ONE warning naming what is missing and runs python-engineio's own loop, unchanged: slower, but
correct. ``SignalingServer(fast_path=False)`` (``talklab-server --no-fast-path``) chooses that
loop on purpose; ``server.fast_path_active`` tells which one is in use.

The guards of :mod:`.transport` (a memory budget per client, long-polling limits) run on both
loops, and need a few internals too (:func:`guard_problems`). They have no fallback: without
them the server refuses to start, naming what is missing.

Tested in tests/test_engine.py (active on the pinned versions; every missing internal named; one
warning and python-engineio's own loop without one; permessage-deflate declined) and
tests/test_socketio_protocol.py (Socket.IO's protocol suite, on both loops).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

from . import engine, transport
from .engine import DirectSocket
from .limits import Limits, QuietLog
from .transport import GuardedSocket

log = logging.getLogger("talklab.server.fastpath")


def _signature(obj: Any, name: str, params: tuple[str, ...], coroutine: bool = True) -> str:
    """'' if ``obj.name`` is a function taking exactly ``params`` (after self), else what
    is wrong with it."""
    func = getattr(obj, name, None)
    where = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}.{name}"
    if func is None:
        return f"{where} is missing"
    if coroutine and not inspect.iscoroutinefunction(func):
        return f"{where} is no longer a coroutine function"
    try:
        found = tuple(inspect.signature(func).parameters)[1:]
    except (TypeError, ValueError):
        return f"{where} has no readable signature"
    if found != params:
        return f"{where}{found} does not take {params}"
    return ""


def _socket_problems() -> list[str]:
    from engineio import exceptions, packet
    from engineio.async_socket import AsyncSocket
    out = [_signature(AsyncSocket, name, params) for name, params in (
        ("send", ("pkt",)),
        ("close", ("wait", "abort", "reason")),
        ("receive", ("pkt",)),
        ("check_ping_timeout", ()),
        ("handle_get_request", ("environ",)),
        ("handle_post_request", ("environ",)),
        ("_websocket_handler", ("ws",)),
    )]
    if getattr(AsyncSocket, "__slots__", None) or AsyncSocket.__init__ is object.__init__:
        out.append("engineio.async_socket.AsyncSocket cannot have its class swapped")
    for name in ("UnknownPacketError", "SocketIsClosedError", "ContentTooLongError"):
        if not isinstance(getattr(exceptions, name, None), type):
            out.append(f"engineio.exceptions.{name} is missing")
    if not callable(getattr(packet, "Packet", None)) or not hasattr(packet, "MESSAGE"):
        out.append("engineio.packet.Packet is missing")
    return out


def _instance_problems(eio: Any) -> list[str]:
    """The attributes a socket and its server must have once made (checked on a probe socket
    that is never registered with the server)."""
    from engineio.async_socket import AsyncSocket
    out = []
    for name in ("max_http_buffer_size", "sockets", "reason"):
        if not hasattr(eio, name):
            out.append(f"engineio.AsyncServer has no attribute {name!r}")
    for name in ("TRANSPORT_CLOSE", "CLIENT_DISCONNECT"):
        if not hasattr(getattr(eio, "reason", None), name):
            out.append(f"engineio.AsyncServer.reason has no {name}")
    try:
        probe = AsyncSocket(eio, "talklab-probe")
    except Exception as exc:
        return [*out, f"engineio.async_socket.AsyncSocket(server, sid) failed: {exc!r}"]
    for name in ("queue", "connected", "upgraded", "closed", "closing", "server", "sid"):
        if not hasattr(probe, name):
            out.append(f"an engineio AsyncSocket has no attribute {name!r}")
    queue = getattr(probe, "queue", None)
    if not all(hasattr(queue, m) for m in ("empty", "get_nowait", "task_done", "put_nowait")):
        out.append("an engineio AsyncSocket's queue is not an asyncio.Queue")
    return out


def _driver_problems() -> list[str]:
    try:
        import engineio.async_drivers.aiohttp as driver
    except ImportError as exc:
        return [f"engineio's aiohttp driver cannot be imported: {exc}"]
    out = []
    response = getattr(driver, "WebSocketResponse", None)
    if not (isinstance(response, type) and issubclass(response, web.WebSocketResponse)):
        out.append("engineio.async_drivers.aiohttp.WebSocketResponse is not aiohttp's")
    websocket = getattr(driver, "WebSocket", None)
    call = vars(websocket).get("__call__") if isinstance(websocket, type) else None
    names = getattr(getattr(call, "__code__", None), "co_names", ())
    for name in ("WebSocketResponse", "_sock", "environ"):
        if name not in names:
            out.append(f"engineio.async_drivers.aiohttp.WebSocket no longer uses {name}")
    if not isinstance(getattr(web.BaseRequest, "transport", None), property):
        out.append("aiohttp.web.BaseRequest.transport is missing")
    return out


def _payload_problems() -> list[str]:
    from engineio import payload
    cls = getattr(payload, "Payload", None)
    if cls is None or not isinstance(getattr(cls, "max_decode_packets", None), int):
        return ["engineio.payload.Payload.max_decode_packets is missing"]
    if "max_decode_packets" not in cls.decode.__code__.co_names:
        return ["engineio.payload.Payload.decode no longer reads max_decode_packets"]
    return []


def _socketio_problems() -> list[str]:
    out = [_signature(socketio.AsyncServer, "_handle_eio_connect", ("eio_sid", "environ"))]
    manager = getattr(socketio, "AsyncManager", None)
    if not callable(getattr(manager, "eio_sid_from_sid", None)):
        out.append("socketio.AsyncManager.eio_sid_from_sid is missing")
    return out


CHECKS: list[Callable[[], list[str]]] = [_socket_problems, _driver_problems, _payload_problems,
                                         _socketio_problems]


def problems(eio: Any = None) -> list[str]:
    """Everything the fast path needs that is missing or has another shape; [] if none.

    ``eio`` is the Engine.IO server to probe a socket on (python-socketio's ``sio.eio``).
    """
    found: list[str] = []
    for check in CHECKS:
        try:
            found += check()
        except Exception as exc:  # a library reorganised beyond what the check expects
            found.append(f"{check.__name__} failed: {exc!r}")
    if eio is not None:
        found += _instance_problems(eio)
    return [p for p in found if p]


def patch_websocket_response() -> None:
    """The WebSocket responses of talklab's sockets: exactly ``max_payload`` bytes accepted,
    and (on the fast path) no permessage-deflate (RFC 7692).

    engineio's aiohttp driver builds its ``WebSocketResponse(max_msg_size=max_http_buffer_size)``
    through a module global. aiohttp refuses a message of ``max_msg_size`` bytes or more, while
    Engine.IO's ``maxPayload`` (which the server announces in its handshake) is the largest
    packet allowed: so a message of exactly 1,000,000 bytes was refused. The subclass put there
    allows one byte more while one of talklab's sockets is answering
    (:data:`.transport.guarded`).

    Browsers and socket.io-client offer permessage-deflate; aiohttp accepts by default and then
    compresses and decompresses every frame (about 8 % of a relay's cost, measured), for
    signaling messages of a few hundred bytes. The seed's Node server declines it by default;
    so does talklab's fast path (:data:`.engine.ours`). Any other python-engineio server in the
    process is unchanged.
    """
    import engineio.async_drivers.aiohttp as driver

    if getattr(driver.WebSocketResponse, "talklab", False):
        return
    stock: type[web.WebSocketResponse] = driver.WebSocketResponse

    class WebSocketResponse(stock):  # type: ignore[valid-type, misc]
        talklab = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if transport.guarded.get() and kwargs.get("max_msg_size"):
                kwargs["max_msg_size"] += 1
            if engine.ours.get():
                kwargs["compress"] = False
            super().__init__(*args, **kwargs)

    driver.WebSocketResponse = WebSocketResponse


class GuardedServer(socketio.AsyncServer):
    """python-socketio's server, with each new Engine.IO socket made a
    :class:`.transport.GuardedSocket` (or, on the fast path, a :class:`.engine.DirectSocket`)
    and reported to ``on_session(eio_sid, environ)`` (the application counts pending
    handshakes there: :mod:`.sessions`). Made only by :func:`socketio_server`."""

    fast_path_active = False
    on_session: Callable[[str, dict], None] | None = None

    def _socket_class(self) -> type[GuardedSocket]:
        return GuardedSocket

    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            self._socket_class().adopt(sock)
        if self.on_session is not None:
            self.on_session(eio_sid, environ)
        return await super()._handle_eio_connect(eio_sid, environ)


class FastServer(GuardedServer):
    """The guarded server on talklab's own WebSocket loop (:class:`.engine.DirectSocket`)."""

    fast_path_active = True

    def _socket_class(self) -> type[GuardedSocket]:
        return DirectSocket


class StockServer(GuardedServer):
    """The guarded server on python-engineio's own loop (what the fast path falls back to):
    python-engineio's transport unchanged, with talklab's budgets (:mod:`.transport`)."""


def guard_problems(eio: Any = None) -> list[str]:
    """What the guards of :mod:`.transport` need (on either path) that is missing: the
    server's connect hook, the socket's request handlers and queue, the payload limit, the
    driver's WebSocketResponse. Unlike the fast path, they have no fallback: a server without
    them would be open to every attack they stop, so :func:`socketio_server` refuses to make
    one."""
    found = [_signature(socketio.AsyncServer, "_handle_eio_connect", ("eio_sid", "environ"))]
    from engineio.async_socket import AsyncSocket
    found += [_signature(AsyncSocket, name, ("environ",))
              for name in ("handle_get_request", "handle_post_request")]
    found += _payload_problems()
    try:
        import engineio.async_drivers.aiohttp as driver
        if not (isinstance(driver.WebSocketResponse, type)
                and issubclass(driver.WebSocketResponse, web.WebSocketResponse)):
            found.append("engineio.async_drivers.aiohttp.WebSocketResponse is not aiohttp's")
    except (ImportError, AttributeError) as exc:
        found.append(f"engineio's aiohttp driver: {exc!r}")
    if eio is not None:
        for name in ("handlers", "sockets", "max_http_buffer_size"):
            if not hasattr(eio, name):
                found.append(f"engineio.AsyncServer has no attribute {name!r}")
        try:
            probe = AsyncSocket(eio, "talklab-probe")
            if not hasattr(probe, "queue"):
                found.append("an engineio AsyncSocket has no queue")
        except Exception as exc:
            found.append(f"engineio.async_socket.AsyncSocket(server, sid) failed: {exc!r}")
    return [p for p in found if p]


def socketio_server(*, fast_path: bool = True, limits: Limits | None = None,
                    on_session: Callable[[str, dict], None] | None = None,
                    **options: Any) -> socketio.AsyncServer:
    """A guarded python-socketio ``AsyncServer`` for aiohttp (:class:`GuardedServer`), on the
    fast path when asked for and every internal it needs is there (otherwise with ONE warning
    saying what is missing). Its ``fast_path_active`` tells which. ``limits`` are the budgets
    (:class:`.limits.Limits`); ``on_session(eio_sid, environ)`` is told of every Engine.IO
    session opened; ``options`` go to ``socketio.AsyncServer``."""
    limits = limits or Limits()
    options.setdefault("async_mode", "aiohttp")
    options.setdefault("max_http_buffer_size", limits.max_payload)
    sio: GuardedServer = FastServer(**options) if fast_path else StockServer(**options)
    missing = problems(sio.eio) if fast_path else []
    if missing:
        log.warning("talklab's fast WebSocket path is off: python-engineio %s / python-socketio "
                    "%s lack what it needs (%s); using python-engineio's own loop",
                    _version("python-engineio"), _version("python-socketio"), "; ".join(missing))
        sio = StockServer(**options)
    missing = guard_problems(sio.eio)
    if missing:
        raise RuntimeError("talklab's signaling server cannot guard its clients on python-engineio "
                           f"{_version('python-engineio')} / python-socketio "
                           f"{_version('python-socketio')} ({'; '.join(missing)}); install the "
                           "versions pyproject.toml pins")
    sio.on_session = on_session
    sio.eio.talklab_limits = limits
    sio.eio.talklab_quiet = QuietLog(logging.getLogger("talklab.server.transport"),
                                     limits.refusal_log_interval)
    patch_websocket_response()
    return sio


def _version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "(unknown version)"
