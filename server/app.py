"""The signaling server: the seed's "postman" (sockets/index.js), ported and hardened.

It passes offers, answers and ICE candidates between people and never touches audio. Each
handler below reads like the seed's ``socket.on(...)`` it ports. What it adds to the seed:

* every payload is checked (:mod:`.payloads`) before anything happens;
* room and voice-seat state lives in :class:`.rooms.Rooms`, where the seat check-and-mark is
  one synchronous step, so 7 people joining at once can never make 7 seats;
* offers, answers and candidates are relayed only between two people of one room who are both
  in voice (the seed relays to any socket id it is given);
* anything refused answers ``signalingError {event, message}`` and changes nothing;
* every event in and out is written to a :class:`.trace.Trace` (``GET /trace``).

Run it alone with ``talklab-server --port 5000``, or in-process with
:class:`talklab.SignalingServer` (what the notebooks and tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import pathlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from aiohttp import web
from engineio import packet as eio_packet

from .._service import Service, serve_forever
from . import payloads
from .engine import DirectSocket, allow_batched_polling
from .payloads import InvalidPayload
from .rooms import DEFAULT_VOICE_CAP, Member, RoomError, Rooms, VoiceFull
from .store import MemoryStore
from .trace import SERVER, Trace

log = logging.getLogger("talklab.server")
STATIC = pathlib.Path(__file__).parent / "static"

Handler = Callable[..., Awaitable[None]]


def _guarded(event: str) -> Callable[[Handler], Handler]:
    """Wrap a handler: trace the incoming event; turn refusals into ``signalingError``."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(self: SignalingApp, sid: str, data: Any = None, *extra: Any) -> None:
            self._trace_in(event, sid, self._room_of(sid), data)
            try:
                await handler(self, sid, data)
            except (InvalidPayload, RoomError) as exc:
                await self.refuse(sid, event, str(exc))
            except Exception:  # a bug must cost one event, never the server
                log.exception("handler for %s failed", event)
                await self.refuse(sid, event, "internal error")

        return run

    return wrap


class _fast_json:
    """JSON for Socket.IO packets, with orjson: parsing and writing every relayed message was a
    tenth of a relay's cost with the standard library (measured)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


def _decline_permessage_deflate() -> None:
    """Answer WebSocket upgrades without permessage-deflate (RFC 7692).

    Browsers and socket.io-client offer it; aiohttp accepts by default and then compresses and
    decompresses every frame (about 8 % of a relay's cost, measured), for signaling messages of
    a few hundred bytes. The seed's Node server declines it by default; so does talklab's.
    (engineio's aiohttp driver builds its WebSocketResponse through this module global.)
    """
    import engineio.async_drivers.aiohttp as driver
    if getattr(driver.WebSocketResponse, "talklab", False):
        return
    stock = driver.WebSocketResponse

    class WebSocketResponse(stock):
        talklab = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["compress"] = False
            super().__init__(*args, **kwargs)

    driver.WebSocketResponse = WebSocketResponse


class _SocketIOServer(socketio.AsyncServer):
    """python-socketio's server, with each new WebSocket on :class:`.engine.DirectSocket`."""

    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            DirectSocket.adopt(sock)
        return await super()._handle_eio_connect(eio_sid, environ)


class SignalingApp:
    """The Socket.IO application: handlers, rooms and trace. No listening socket of its own."""

    def __init__(self, *, voice_cap: int = DEFAULT_VOICE_CAP, trace_size: int = 10_000,
                 ice_servers: list[dict] | None = None, redis_url: str | None = None) -> None:
        self.rooms = Rooms(voice_cap=voice_cap)  # this process's rooms (without Redis)
        self.store = MemoryStore(self.rooms)
        manager = None
        if redis_url:
            from .redis_store import RedisStore
            self.store = RedisStore(redis_url, voice_cap=voice_cap, on_reaped=self._reaped,
                                    on_message=self._deliver_forwarded)
            manager = socketio.AsyncRedisManager(redis_url, channel="talklab-socketio")
        self._known: dict[str, tuple[str, str]] = {}  # sid -> (username, room), for the trace
        self._delivering: set[asyncio.Task] = set()  # forwarded packets for long-polling
        self._dumps = _fast_json.dumps
        self.trace = Trace(trace_size)
        self.ice_servers = list(ice_servers or [])  # what the browser page is told to use
        self.sio = _SocketIOServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            # Handle each client's events in order, inline: an ICE candidate can never overtake
            # the offer it belongs to, and no task is spawned per message.
            async_handlers=False,
            client_manager=manager,
            json=_fast_json,
            logger=False,
            engineio_logger=False,
        )
        _decline_permessage_deflate()
        allow_batched_polling()
        self.web = web.Application()
        self.sio.attach(self.web)
        self.web.router.add_get("/health", self._health)
        self.web.router.add_get("/trace", self._trace_json)
        self.web.router.add_get("/config", self._config)
        # The seed's browser client (static/): join the same rooms as the notebook's people.
        self.web.router.add_get("/", self._page)
        self.web.router.add_get("/client.js", self._page)
        self.web.router.add_static("/vendor", STATIC / "vendor")
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        for event, handler in {
            "joinRoom": self.on_join_room,
            "joinVoice": self.on_join_voice,
            "leaveVoice": self.on_leave_voice,
            "webrtc-offer": self.on_webrtc_offer,
            "webrtc-answer": self.on_webrtc_answer,
            "webrtc-ice-candidate": self.on_webrtc_ice_candidate,
        }.items():
            self.sio.on(event, handler)
        self.sio.on("*", self.on_unknown)

    # -- sending, always through the trace ----------------------------------------------------
    def _learn(self, *members: Member | None) -> None:
        for m in members:
            if m is not None:
                self._known[m.sid] = (m.username, m.room)

    def _name(self, sid: str) -> str | None:
        known = self._known.get(sid)
        return known[0] if known else None

    def _room_of(self, sid: str) -> str | None:
        known = self._known.get(sid)
        return known[1] if known else None

    def _trace_in(self, event: str, sid: str, room: str | None, data: Any) -> None:
        self.trace.record(event, sid, SERVER, room, data, self._name)

    async def send(self, event: str, data: dict, to: str, room: str | None = None) -> None:
        self.trace.record(event, SERVER, to, room, data, self._name)
        # Not python-socketio's emit: it builds a Packet (walking the data for binary parts),
        # then a task per recipient and an asyncio.wait on them, most of the cost of a relay.
        # A text EVENT packet for the default namespace is just "2" + JSON.
        text = "2" + self._dumps([event, data])
        if not await self._deliver(to, text):  # not connected here: another server's, or gone
            await self.store.forward(to, text)

    async def _deliver(self, sid: str, text: str) -> bool:
        """Write a Socket.IO packet to one of this server's sockets; False if it is not here."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is None:
            return False
        await self.sio.eio.send_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, text))
        return True

    def _deliver_forwarded(self, sid: str, text: str) -> None:
        """A packet another server sent through Redis for one of ours: written at once on the
        WebSocket path; otherwise (long-polling) through python-engineio, in order."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        sock = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is None:
            return  # gone
        if isinstance(sock, DirectSocket) and sock.send_text("4" + text):
            return
        task = asyncio.ensure_future(self._deliver(sid, text))  # tasks run in order
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def send_to_room(self, event: str, data: dict, members: list[Member],
                           skip: str) -> None:
        """The seed's ``socket.to(room).emit(...)``: everyone in the room but the sender.
        ``members`` is the room as the store answered the change being announced."""
        self._learn(*members)
        for member in members:
            if member.sid != skip:
                await self.send(event, data, member.sid, member.room)

    async def refuse(self, sid: str, event: str, message: str) -> None:
        await self.send("signalingError", {"event": event, "message": message}, sid)

    # -- connection lifecycle -----------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        self._trace_in("connect", sid, None, {})

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        self._trace_in("disconnect", sid, self._room_of(sid), {})
        await self._leave_room(sid)
        self._known.pop(sid, None)

    async def _leave_room(self, sid: str) -> None:
        """Free the seat and the membership; tell the room (voice first, then the room)."""
        member, members = await self.store.leave_room(sid)
        if member is not None:
            await self._tell_left(member, members)

    async def _tell_left(self, member: Member, members: list[Member]) -> None:
        if member.in_voice:
            await self.send_to_room("userLeftVoice", {"socketId": member.sid}, members,
                                    skip=member.sid)
        await self.send_to_room("userLeftRoom", {"socketId": member.sid}, members,
                                skip=member.sid)

    async def _reaped(self, gone: list[tuple[Member, list[Member]]]) -> None:
        """People of a signaling server that died (Redis mode): their seats are free now."""
        for member, members in gone:
            await self._tell_left(member, members)

    # -- rooms --------------------------------------------------------------------------------
    @_guarded("joinRoom")
    async def on_join_room(self, sid: str, data: Any) -> None:
        p = payloads.join_room(data)
        current = await self.store.member(sid)
        if current is not None and current.room == p["room"]:
            raise RoomError(f"already in room {p['room']}")
        if current is not None:  # moving to another room: leave the old one properly
            await self._leave_room(sid)
        member, members = await self.store.join_room(sid, p["room"], p["username"], p["userId"])
        self._learn(*members)
        await self.send("roomJoined", {
            "room": member.room,
            "socketId": sid,
            "members": [m.public() for m in members],
        }, sid, member.room)
        await self.send_to_room("userJoinedRoom", member.identity(), members, skip=sid)

    # -- voice: the seed's Step 2 -------------------------------------------------------------
    @_guarded("joinVoice")
    async def on_join_voice(self, sid: str, data: Any) -> None:
        room = payloads.room_only(data)["room"]
        try:
            member, peers, members = await self.store.join_voice(sid, room)
            self._learn(*members)
        except VoiceFull as full:
            await self.send("voiceError", {"message": str(full)}, sid, room)
            return
        # Dave hears he is in first: the offers the others are about to send him must find him
        # already in voice (his socket delivers in order).
        await self.send("voiceJoined", {"room": room, "peers": [p.public() for p in peers]},
                        sid, room)
        # Tell Alice, Bob, Charlie: "Dave joined voice!" (they will each send him an offer)
        await self.send_to_room("userJoinedVoice", member.identity(), members, skip=sid)

    @_guarded("leaveVoice")
    async def on_leave_voice(self, sid: str, data: Any) -> None:
        room = payloads.room_only(data)["room"]
        _, members = await self.store.leave_voice(sid, room)
        await self.send_to_room("userLeftVoice", {"socketId": sid}, members, skip=sid)
        await self.send("voiceLeft", {"room": room}, sid, room)

    # -- the relays: the seed's Steps 4, 6 and 8 ----------------------------------------------
    async def _relay(self, sid: str, event: str, key: str, p: dict) -> None:
        sender, target = await self.store.check_relay(sid, p["to"])
        self._learn(sender, target)
        await self.send(event, {key: p[key], "from": sid}, target.sid, sender.room)

    @_guarded("webrtc-offer")
    async def on_webrtc_offer(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-offer", "offer", payloads.description(data, "offer"))

    @_guarded("webrtc-answer")
    async def on_webrtc_answer(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-answer", "answer", payloads.description(data, "answer"))

    @_guarded("webrtc-ice-candidate")
    async def on_webrtc_ice_candidate(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-ice-candidate", "candidate", payloads.ice_candidate(data))

    async def on_unknown(self, event: str, sid: str, *data: Any) -> None:
        self._trace_in(event, sid, self._room_of(sid), data[0] if data else None)
        await self.refuse(sid, event, f"unknown event {event!r}")

    # -- HTTP -----------------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **await self.store.counts(),
                                  "voiceCap": self.store.voice_cap})

    async def _trace_json(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since must be an integer") from None
        return web.json_response({"entries": [e.as_dict() for e in self.trace.since(since)]})

    async def _page(self, request: web.Request) -> web.FileResponse:
        name = "client.js" if request.path.endswith("client.js") else "index.html"
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response({"iceServers": self.ice_servers,
                                  "voiceCap": self.store.voice_cap})


class SignalingServer(Service):
    """A :class:`SignalingApp` listening on a loopback address (or any address you give it).

    ``port=0`` picks a free port. Use it as ``async with SignalingServer() as server: ...`` or
    ``await server.start()`` / ``await server.close()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.host, self.port = host, port
        self.app = SignalingApp(**options)
        self._runner: web.AppRunner | None = None

    @property
    def rooms(self) -> Rooms:
        return self.app.rooms

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
        await self.app.store.start()
        runner = web.AppRunner(self.app.web, handle_signals=False, access_log=None,
                               shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
        return self

    async def close(self) -> None:
        """Disconnect every client, stop listening, free the port. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        sio = self.app.sio
        for eio_socket in list(sio.eio.sockets.values()):
            # wait=False: a client that already hung up never drains its queue, and engineio's
            # default close would wait for that forever.
            await eio_socket.close(wait=False)
        sio.eio.sockets.clear()
        await sio.shutdown()
        await runner.cleanup()
        await self.app.store.close()


def main(argv: list[str] | None = None) -> None:
    """``talklab-server``: run the signaling server alone until interrupted."""
    parser = argparse.ArgumentParser(prog="talklab-server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one (5000)")
    parser.add_argument("--voice-cap", type=int, default=DEFAULT_VOICE_CAP,
                        help="most people in one room's voice channel (6, as the seed)")
    parser.add_argument("--redis", metavar="redis://HOST:PORT/DB",
                        help="share rooms with every talklab-server using this Redis")
    args = parser.parse_args(argv)
    if args.voice_cap < 1:
        parser.error("--voice-cap must be at least 1")
    # A relay allocates a few short-lived objects; with a thousand connections alive, the
    # default first-generation threshold (700) runs the cyclic GC constantly. Measured: 50,000
    # relays ~13 % more messages per second in the storm.
    gc.set_threshold(50_000, 20, 100)
    serve_forever(SignalingServer(args.host, args.port, voice_cap=args.voice_cap,
                                  redis_url=args.redis),
                  lambda server: f"talklab signaling server on {server.url}", "talklab-server",
                  fast_loop=True)


if __name__ == "__main__":
    main()
