"""The signaling server's plain HTTP routes, beside Socket.IO's ``/socket.io/``, and the gate in
front of all of them.

* ``GET /health`` — ``{status, rooms, members, inVoice, voiceCap}``: counts only, no names or
  room codes, counted by the store (with Redis: every server's people, from counters kept by
  the change scripts, so it costs one round trip however many people there are). If the room
  service does not answer in time it answers 503 ``{status: "unavailable", message}`` within
  that time, never hangs.
* ``GET /trace?token=T&since=SEQ&limit=N&room=R`` — the events received and sent after
  ``SEQ`` (:mod:`.trace`), at most N (200 by default, 500 at most), of room R if given, as
  ``{entries, next, more}``: ask again with ``since=next`` while ``more``. It needs the server's
  token (``?token=`` or ``Authorization: Bearer``): the trace names every room, person and
  candidate. At most :data:`TRACE_RATE` pages a second are served (429 past that): however
  many pollers there are, relays do not wait for them.
* ``GET /dashboard?token=T`` — the class dashboard (:mod:`.classroom`): every room, who is in
  it and in voice, its seats left, each link as its people report it. ``POST /lock?room=R``
  and ``POST /unlock?room=R`` (with the token) lock a room against newcomers, and open it.
  The token is the trace's.
* ``GET /config`` — what the browser page needs: the ICE servers to use and the voice cap.
* ``GET /`` and ``/client.js`` — the seed's browser client (``static/``), and ``/vendor/``
  the socket.io client it loads (vendored from npm: nothing comes from a CDN).

Every request, ``/socket.io/`` included, first passes :attr:`Site.middleware`: the Host and
Origin checks of :mod:`.gate` (403 with the reason), CORS headers for an allowed page of
another origin (never ``Access-Control-Allow-Credentials``), the handshake limits of
:mod:`.sessions` (429), and the reason of a long-polling request refused by :mod:`.transport`
(400).

Refusing costs the server too (parsing a request, answering it): a flood of handshakes or of
anonymous trace requests answered at once still took a third of its loop. So past a burst of
refusals, one address's next refusals are each held :data:`TARPIT_S` before they are answered
(an idle timer, no work), a few dozen at a time; past that it is hung up on. A flood then
moves at the pace of its own concurrency, and relays do not wait for it. And one address may
have only :data:`HANDSHAKES_AT_ONCE` sessions being opened, and :data:`TRACES_AT_ONCE` trace
pages being served, at a time (the others wait their turn, idle): 32 handshakes ready at once
made every relay wait behind all 32.

Tested in tests/test_security.py (the trace needs the token and comes in pages; /health says counts
only), tests/test_server.py (trace and health over HTTP), tests/test_abuse.py (anonymous trace
pollers get nothing) and tests/test_classroom.py (the dashboard and locks need the teacher's token).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import pathlib
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from . import payloads
from .classroom import ClassState
from .gate import Gate, token_matches
from .limits import QuietLog, TokenBucket
from .payloads import InvalidPayload
from .store import Store, StoreUnavailable
from .trace import Trace
from .transport import REFUSED

log = logging.getLogger("talklab.server.http")
STATIC = pathlib.Path(__file__).parent / "static"
TRACE_RATE = (10, 20.0)  # pages of /trace: a burst of 10, then 20 a second, for the server
REFUSALS = (20, 10.0)  # refusals (401, 403, 429) answered at once to one address, then...
TARPIT_S = 1.0  # ...each waits this long before it is answered,
TARPIT_MAX = 64  # for at most this many at a time per address (the next are hung up on)
HANDSHAKES_AT_ONCE = 4  # new sessions one address may have being opened at the same time
TRACES_AT_ONCE = 1  # trace pages one address may have being served at the same time
SOCKETIO_PATH = "/socket.io/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class Tarpit:
    """Refusals answered at once up to a burst per address, then slowly (module docstring)."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._held: collections.Counter[str] = collections.Counter()

    async def refuse(self, request: web.Request, response: web.Response) -> web.Response:
        address = request.remote or "?"
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._buckets = {a: b for a, b in self._buckets.items() if not b.full}
            bucket = self._buckets[address] = TokenBucket(*REFUSALS)
        if bucket.take():
            return response
        if self._held[address] >= TARPIT_MAX:
            response.force_close()
            return response
        self._held[address] += 1
        try:
            await asyncio.sleep(TARPIT_S)
        finally:
            self._held[address] -= 1
            if self._held[address] <= 0:
                del self._held[address]
        return response


class Turns:
    """At most ``size`` requests of one kind per address at a time; the others wait, idle."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._locks: dict[str, asyncio.Semaphore] = {}
        self._users: collections.Counter[str] = collections.Counter()

    async def take(self, address: str) -> Callable[[], None]:
        """Wait for a turn; returns the function that gives it back (calling it twice is
        harmless: a WebSocket gives it back once open, its request only when closed)."""
        lock = self._locks.get(address)
        if lock is None:
            lock = self._locks[address] = asyncio.Semaphore(self.size)
        self._users[address] += 1
        await lock.acquire()
        given = False

        def give_back() -> None:
            nonlocal given
            if given:
                return
            given = True
            lock.release()
            self._users[address] -= 1
            if self._users[address] <= 0:
                del self._users[address]
                self._locks.pop(address, None)

        return give_back


TURN = web.RequestKey("talklab_turn", object)  # (the function that gives a turn back)


class Site:
    """The HTTP side of one signaling server: the gate in front of every request
    (:meth:`middleware`) and the plain routes (:meth:`add_routes`), as the module docstring
    says.

    The application (:mod:`.app`) makes it with what the routes serve: the trace's ``token``,
    the :class:`~.gate.Gate`, the :class:`~.store.Store` (counts and the voice cap), the
    :class:`~.trace.Trace`, the class's locks (:class:`~.classroom.ClassState`), and callbacks:
    ``admit(address)`` (a new Engine.IO session's refusal, if any: :mod:`.sessions`),
    ``dashboard()`` and ``ice_servers()``. Its :class:`Tarpit` is its own.
    """

    def __init__(self, *, token: str, gate: Gate, store: Store, trace: Trace,
                 classroom: ClassState, admit: Callable[[str], tuple[str, float] | None],
                 dashboard: Callable[[], list[dict]], ice_servers: Callable[[], list[dict]],
                 refusal_log_interval: float) -> None:
        self.token = token
        self.gate = gate
        self.store = store
        self.trace = trace
        self.classroom = classroom
        self.admit = admit
        self.dashboard = dashboard
        self.ice_servers = ice_servers
        self.tarpit = Tarpit()
        self._quiet = QuietLog(log, refusal_log_interval)
        self._pages = TokenBucket(*TRACE_RATE)  # of /trace and /dashboard, for the server
        self.middleware = self._middleware()

    def _middleware(self) -> Callable:
        """The gate in front of every route (see the module docstring)."""
        quiet, tarpit, gate, admit = self._quiet, self.tarpit, self.gate, self.admit
        handshakes, traces = Turns(HANDSHAKES_AT_ONCE), Turns(TRACES_AT_ONCE)

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            host, origin = request.headers.get("Host"), request.headers.get("Origin")
            why = gate.host_refusal(host) or gate.origin_refusal(origin, host)
            if why is not None:
                quiet("forbidden", "403 for %s %s: %s", request.method, request.path, why)
                return await tarpit.refuse(request, web.Response(status=403, text=why))
            cross = gate.cross_origin(origin, host)
            if request.method == "OPTIONS" and cross is not None:  # a CORS preflight
                return web.Response(status=204, headers={
                    "Access-Control-Allow-Origin": cross, "Vary": "Origin",
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                    "Access-Control-Max-Age": "600"})
            if request.path == SOCKETIO_PATH and request.method == "GET" \
                    and "sid" not in request.query:  # a new Engine.IO session
                refused = admit(request.remote or "?")
                if refused is not None:
                    reason, retry = refused
                    return await tarpit.refuse(request, web.Response(
                        status=429, text=reason,
                        headers={"Retry-After": str(max(1, round(retry)))}))
                turns: Turns | None = handshakes
            else:
                turns = traces if request.path in ("/trace", "/dashboard") else None
            give_back = await turns.take(request.remote or "?") if turns is not None else None
            request[TURN] = give_back
            try:
                response = await handler(request)
            finally:
                if give_back is not None:
                    give_back()
            if REFUSED in request:  # (a long-polling request refused by transport.py)
                return web.Response(status=400, text=request[REFUSED])
            if cross is not None and not response.prepared:
                response.headers["Access-Control-Allow-Origin"] = cross
                response.headers["Vary"] = "Origin"
            return response

        return middleware

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Add the routes above to ``router`` (of the aiohttp application Socket.IO is
        attached to)."""
        router.add_get("/health", self.health)
        router.add_get("/trace", self.trace_page)
        router.add_get("/dashboard", self.dashboard_page)
        router.add_post("/lock", self.lock)
        router.add_post("/unlock", self.lock)
        router.add_get("/config", self.config)
        router.add_get("/", self.page)
        router.add_get("/client.js", self.page)
        router.add_static("/vendor", STATIC / "vendor")

    # -- the routes ------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        try:
            counts = await self.store.counts()
        except StoreUnavailable as exc:
            return _json({"status": "unavailable",
                          "message": f"the room service did not answer ({exc})",
                          "voiceCap": self.store.voice_cap}, status=503)
        return _json({"status": "ok", "rooms": counts["rooms"], "members": counts["members"],
                      "inVoice": counts["inVoice"], "voiceCap": self.store.voice_cap})

    async def trace_page(self, request: web.Request) -> web.Response:
        if not token_matches(self.token, request.query.get("token"),
                             request.headers.get("Authorization")):
            return await self.tarpit.refuse(request, web.Response(
                status=401, text="the trace needs this server's token (?token=..., printed by "
                "talklab-server at start; server.token in Python)",
                headers={"WWW-Authenticate": 'Bearer realm="talklab trace"'}))
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise web.HTTPBadRequest(text="since and limit must be integers") from None
        if limit < 1:
            raise web.HTTPBadRequest(text="limit must be at least 1")
        if not self._pages.take():
            return await self.tarpit.refuse(request, web.Response(
                status=429, text="too many trace requests; try again shortly",
                headers={"Retry-After": "1"}))
        entries, last, more = self.trace.page(since, limit, request.query.get("room") or None)
        return _json({"entries": entries, "next": last, "more": more})

    async def _authorised(self, request: web.Request, what: str) -> web.Response | None:
        if token_matches(self.token, request.query.get("token"),
                         request.headers.get("Authorization")):
            return None
        return await self.tarpit.refuse(request, web.Response(
            status=401, text=f"{what} needs this server's token (?token=..., printed by "
            "talklab-server at start; server.token in Python)",
            headers={"WWW-Authenticate": 'Bearer realm="talklab"'}))

    async def dashboard_page(self, request: web.Request) -> web.Response:
        refused = await self._authorised(request, "the dashboard")
        if refused is not None:
            return refused
        if not self._pages.take():
            return await self.tarpit.refuse(request, web.Response(
                status=429, text="too many dashboard requests; try again shortly",
                headers={"Retry-After": "1"}))
        return _json({"rooms": self.dashboard(), "voiceCap": self.store.voice_cap})

    async def lock(self, request: web.Request) -> web.Response:
        refused = await self._authorised(request, "locking a room")
        if refused is not None:
            return refused
        try:
            code = payloads.room({"room": request.query.get("room")})
        except InvalidPayload as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if request.path == "/lock":
            self.classroom.lock(code)
        else:
            self.classroom.unlock(code)
        return _json({"room": code, "locked": code in self.classroom.locked})

    async def config(self, request: web.Request) -> web.Response:
        try:
            ice_servers = self.ice_servers()
        except Exception as exc:  # a callable that failed: say so, once per request
            log.error("ice_servers failed: %s", exc)
            raise web.HTTPInternalServerError(text=f"ice_servers failed: {exc}") from None
        return _json({"iceServers": ice_servers, "voiceCap": self.store.voice_cap})

    async def page(self, request: web.Request) -> web.FileResponse:
        name = "client.js" if request.path.endswith("client.js") else "index.html"
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
