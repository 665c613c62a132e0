"""The signaling server on a socket: :class:`SignalingServer`, and the ``talklab-server`` command.

:class:`~.app.SignalingApp` is the application (handlers, store, trace); this module listens
for it on a loopback address (or any address it is given), in-process (notebooks and tests) or
alone (``talklab-server --port 5000``).

Tested in tests/test_server.py (talklab-server runs alone and prints its URL; every test there opens
a SignalingServer) and tests/test_seed_client.py (the seed's Node client against talklab-server).
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
from collections.abc import Iterable

from aiohttp import web

from talklab._service import Service, serve_forever
from talklab.address import is_loopback

from .app import IceServers, SignalingApp
from .limits import Limits
from .rooms import DEFAULT_VOICE_CAP, Rooms
from .store import StoreUnavailable
from .trace import Trace


class SignalingServer(Service):
    """A :class:`SignalingApp` listening on ``host:port`` (``port=0`` picks a free port).

    Use it as ``async with SignalingServer() as server: ...`` or ``await server.start()`` /
    ``await server.close()``. Options: ``voice_cap`` (6, as the seed), ``trace_size``,
    ``redis_url`` (share rooms with every server on that Redis database), ``fast_path``
    (talklab's own WebSocket loop, on by default; :attr:`fast_path_active` says whether it is
    in use), ``ice_servers`` (a list of RTCIceServer dicts, or a zero-argument callable
    returning one: what ``GET /config`` tells the browser page), ``limits`` (each client's
    budgets: :class:`~.limits.Limits`), ``allowed_origins`` (pages of other origins that may
    reach the server, e.g. ``["http://127.0.0.1:8888"]`` for a Jupyter server that proxies it;
    its own page always may: :mod:`.gate`), ``token`` (what ``GET /trace`` asks for; random
    unless given: :attr:`token`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 voice_cap: int = DEFAULT_VOICE_CAP, trace_size: int = 10_000,
                 ice_servers: IceServers | None = None, redis_url: str | None = None,
                 fast_path: bool = True, limits: Limits | None = None,
                 allowed_origins: Iterable[str] = (), token: str | None = None) -> None:
        self.host, self.port = host, port
        self.app = SignalingApp(voice_cap=voice_cap, trace_size=trace_size,
                                ice_servers=ice_servers, redis_url=redis_url,
                                fast_path=fast_path, limits=limits, host=host,
                                allowed_origins=allowed_origins, token=token)
        self._runner: web.AppRunner | None = None

    @property
    def token(self) -> str:
        """The secret ``GET /trace`` asks for (``?token=`` or ``Authorization: Bearer``):
        random per server, so that only whoever started it (a notebook's Lab, the terminal
        that ran talklab-server) can read who is in which room."""
        return self.app.token

    @property
    def limits(self) -> Limits:
        """Each client's budgets (:class:`~.limits.Limits`)."""
        return self.app.limits

    @property
    def fast_path_active(self) -> bool:
        """True if talklab's own WebSocket loop is in use, False if python-engineio's."""
        return self.app.fast_path_active

    @property
    def rooms(self) -> Rooms:
        """This process's view of the rooms (see :attr:`SignalingApp.rooms`); prefer
        :meth:`members`."""
        return self.app.rooms

    async def members(self, room: str) -> list[dict]:
        """The members of ``room``, as the seed's clients see them, from the store."""
        return await self.app.members(room)

    @property
    def trace(self) -> Trace:
        return self.app.trace

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> SignalingServer:
        if self._runner is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        try:
            await self.app.start()
        except BaseException:
            sock.close()
            raise
        runner = web.AppRunner(self.app.web, handle_signals=False, access_log=None,
                               shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
        return self

    async def close(self) -> None:
        """Disconnect every client, stop listening, free the port. Safe to call twice.

        The seed's Step 9: once audio flows peer to peer, the signaling server's job is done.
        So a server that shuts down announces nobody's leaving (no ``userLeftVoice`` or
        ``userLeftRoom`` because of it): its clients are simply disconnected, and with Redis
        their seats are freed quietly. A client that hangs up on its own is still announced.
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.app.disconnect_everyone()
        await runner.cleanup()
        await self.app.close()


def _banner(server: SignalingServer) -> str:
    """What ``talklab-server`` prints at start: where it listens, its token, and, beyond
    loopback, what that exposes."""
    lines = [f"talklab signaling server on {server.url}",
             f"trace token: {server.token} ({server.url}/trace?token={server.token})"]
    if not (is_loopback(server.host) or server.host == "localhost"):
        lines.append(f"BEYOND LOOPBACK: anyone who can route to {server.host} reaches the page "
                     "at /, /config and /health (counts only); /trace, /dashboard and /lock "
                     "need the token")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``talklab-server``: run the signaling server alone until interrupted."""
    parser = argparse.ArgumentParser(
        prog="talklab-server", description="The seed's signaling server (Socket.IO), hardened.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one (5000)")
    parser.add_argument("--voice-cap", type=int, default=DEFAULT_VOICE_CAP,
                        help="most people in one room's voice channel (6, as the seed)")
    parser.add_argument("--redis", metavar="redis://HOST:PORT/DB",
                        help="share rooms with every talklab-server using this Redis database "
                             "(rediss:// for TLS, unix:///path?db=N for a socket; query options "
                             "socket_timeout, socket_connect_timeout, ssl_*)")
    parser.add_argument("--no-fast-path", dest="fast_path", action="store_false",
                        help="use python-engineio's own WebSocket loop instead of talklab's")
    parser.add_argument("--allow-origin", metavar="ORIGIN", action="append", default=[],
                        help="let pages of this origin (scheme://host[:port]) reach the server "
                             "besides its own page: a teacher's page, or a Jupyter server "
                             "that proxies it (repeatable)")
    parser.add_argument("--limit", metavar="NAME=VALUE", action="append", default=[],
                        help="change one of each client's budgets (talklab.server.Limits: "
                             "max_unread_bytes, connect_timeout, room_changes_per_second, ...; "
                             "repeatable)")
    args = parser.parse_args(argv)
    if args.voice_cap < 1:
        parser.error("--voice-cap must be at least 1")
    try:
        limits = Limits.parse(args.limit)
    except ValueError as exc:
        parser.error(f"--limit {exc}")
    if args.redis:
        from .redis.url import RedisURLError, parse_url
        try:
            parse_url(args.redis)
        except RedisURLError as exc:
            parser.error(f"--redis: {exc}")
    # A relay allocates a few short-lived objects; with a thousand connections alive, the
    # default first-generation threshold (700) runs the cyclic GC constantly. Measured: 50,000
    # relays ~13 % more messages per second in the storm.
    gc.set_threshold(50_000, 20, 100)
    try:
        server = SignalingServer(args.host, args.port, voice_cap=args.voice_cap,
                                 redis_url=args.redis, fast_path=args.fast_path, limits=limits,
                                 allowed_origins=args.allow_origin)
    except ValueError as exc:  # (an --allow-origin that is not an origin)
        parser.error(str(exc))
    try:
        serve_forever(server, _banner, "talklab-server", fast_loop=True)
    except StoreUnavailable as exc:  # Redis unreachable, or refusing: say so, no traceback
        print(f"talklab-server: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
