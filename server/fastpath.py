"""The fast WebSocket path, and the check that makes it honest.

talklab's signaling server is python-socketio on python-engineio on aiohttp. Three changes make
it several times faster under a storm of joins (see :mod:`.engine` and the README's storm
table), and each one reaches into another library's internals:

1. every new Engine.IO socket becomes a :class:`.engine.DirectSocket` (a class swap made in
   python-socketio's private ``_handle_eio_connect``; the socket then overrides
   python-engineio's private ``_websocket_handler``, drains its ``queue``, and reads the
   aiohttp driver's ``ws._sock`` and the request's transport);
2. WebSocket upgrades decline permessage-deflate (RFC 7692): the aiohttp driver builds its
   ``WebSocketResponse`` through a module global, which is swapped for a subclass that turns
   compression off, but only for talklab's own sockets;
3. a long-polling POST may carry up to :data:`.engine.MAX_PACKETS_PER_POST` packets (a
   subclass of python-engineio's ``Payload``, used by talklab's sockets only).

The versions are pinned in ``pyproject.toml``, but a pin can be overridden (an environment that
already has another python-engineio, a Binder image built with other constraints). So before
any of this is used, :func:`problems` checks that every internal it needs is there, with the
shape it needs: classes, attributes, and the signatures of the methods it overrides or calls
(``AsyncSocket.close(wait, abort, reason)`` for one). If anything is missing, the server logs
ONE warning naming what is missing and runs python-engineio's own loop, unchanged: slower, but
correct. ``SignalingServer(fast_path=False)`` (``talklab-server --no-fast-path``) chooses that
loop on purpose; ``server.fast_path_active`` tells which one is in use.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

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


def decline_permessage_deflate() -> None:
    """Answer talklab's WebSocket upgrades without permessage-deflate (RFC 7692).

    Browsers and socket.io-client offer it; aiohttp accepts by default and then compresses and
    decompresses every frame (about 8 % of a relay's cost, measured), for signaling messages of
    a few hundred bytes. The seed's Node server declines it by default; so does talklab's.
    engineio's aiohttp driver builds its WebSocketResponse through a module global; the
    subclass put there turns compression off only while one of talklab's sockets is answering
    (:data:`.engine.ours`), so any other python-engineio server in the process is unchanged.
    """
    import engineio.async_drivers.aiohttp as driver

    from . import engine
    if getattr(driver.WebSocketResponse, "talklab", False):
        return
    stock: type[web.WebSocketResponse] = driver.WebSocketResponse

    class WebSocketResponse(stock):  # type: ignore[valid-type, misc]
        talklab = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if engine.ours.get():
                kwargs["compress"] = False
            super().__init__(*args, **kwargs)

    driver.WebSocketResponse = WebSocketResponse


class FastServer(socketio.AsyncServer):
    """python-socketio's server, with each new Engine.IO socket on
    :class:`.engine.DirectSocket`. Made only by :func:`socketio_server`, after the check."""

    fast_path_active = True

    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        from .engine import DirectSocket
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            DirectSocket.adopt(sock)
        return await super()._handle_eio_connect(eio_sid, environ)


class StockServer(socketio.AsyncServer):
    """python-socketio's server exactly as published (what the fast path falls back to)."""

    fast_path_active = False


def socketio_server(*, fast_path: bool = True, **options: Any) -> socketio.AsyncServer:
    """A python-socketio ``AsyncServer`` for aiohttp, on the fast path when asked for and
    every internal it needs is there (otherwise with ONE warning saying what is missing).
    Its ``fast_path_active`` tells which. ``options`` go to ``socketio.AsyncServer``."""
    options.setdefault("async_mode", "aiohttp")
    if not fast_path:
        return StockServer(**options)
    sio: socketio.AsyncServer = FastServer(**options)
    missing = problems(sio.eio)
    if missing:
        log.warning("talklab's fast WebSocket path is off: python-engineio %s / python-socketio "
                    "%s lack what it needs (%s); using python-engineio's own loop",
                    _version("python-engineio"), _version("python-socketio"),
                    "; ".join(missing))
        return StockServer(**options)
    decline_permessage_deflate()
    return sio


def _version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "(unknown version)"
