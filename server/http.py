"""The signaling server's plain HTTP routes, beside Socket.IO's ``/socket.io/``.

* ``GET /health`` — ``{status, rooms, members, inVoice, voiceCap}``, counted by the store
  (with Redis: every server's people). If the room service does not answer in time it answers
  503 ``{status: "unavailable", message}`` within that time, never hangs.
* ``GET /trace?since=SEQ`` — every event received and sent after ``SEQ`` (:mod:`.trace`).
* ``GET /config`` — what the browser page needs: the ICE servers to use and the voice cap.
* ``GET /`` and ``/client.js`` — the seed's browser client (``static/``), and ``/vendor/``
  the socket.io client it loads (vendored from npm: nothing comes from a CDN).
"""

from __future__ import annotations

import logging
import pathlib
from typing import TYPE_CHECKING

from aiohttp import web

from .store import StoreUnavailable

if TYPE_CHECKING:
    from .app import SignalingApp

log = logging.getLogger("talklab.server.http")
STATIC = pathlib.Path(__file__).parent / "static"


def add_routes(app: SignalingApp) -> None:
    """Add the routes above to ``app.web`` (the aiohttp application Socket.IO is attached to)."""

    async def health(request: web.Request) -> web.Response:
        try:
            counts = await app.store.counts()
        except StoreUnavailable as exc:
            return web.json_response({"status": "unavailable",
                                      "message": f"the room service did not answer ({exc})",
                                      "voiceCap": app.store.voice_cap}, status=503)
        return web.json_response({"status": "ok", **counts, "voiceCap": app.store.voice_cap})

    async def trace(request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since must be an integer") from None
        return web.json_response({"entries": [e.as_dict() for e in app.trace.since(since)]})

    async def config(request: web.Request) -> web.Response:
        try:
            ice_servers = app.ice_servers
        except Exception as exc:  # a callable that failed: say so, once per request
            log.error("ice_servers failed: %s", exc)
            raise web.HTTPInternalServerError(text=f"ice_servers failed: {exc}") from None
        return web.json_response({"iceServers": ice_servers, "voiceCap": app.store.voice_cap})

    async def page(request: web.Request) -> web.FileResponse:
        name = "client.js" if request.path.endswith("client.js") else "index.html"
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    router = app.web.router
    router.add_get("/health", health)
    router.add_get("/trace", trace)
    router.add_get("/config", config)
    router.add_get("/", page)
    router.add_get("/client.js", page)
    router.add_static("/vendor", STATIC / "vendor")
