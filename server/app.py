"""The signaling server: the seed's "postman" (sockets/index.js), ported and hardened.

It passes offers, answers and ICE candidates between people and never touches audio. Each
handler below reads like the seed's ``socket.on(...)`` it ports. What it adds to the seed:

* every payload is checked (:mod:`.payloads`) before anything happens;
* room and voice-seat state lives in a :class:`.store.Store`, where the seat check-and-mark is
  one atomic step, so 7 people joining at once can never make 7 seats;
* offers, answers and candidates are relayed only between two people of one room who are both
  in voice (:mod:`.relay`; the seed relays to any socket id it is given);
* anything refused answers ``signalingError {event, message}`` and changes nothing; so does a
  room service (Redis) that does not answer, in bounded time;
* every event in and out is written to a :class:`.trace.Trace` (``GET /trace``, with the
  server's :attr:`SignalingApp.token`);
* no client can cost the server more than its budget (:mod:`.limits`): what it leaves unread,
  its handshakes (:mod:`.sessions`), its room changes (a rate per socket), its bad input
  (:mod:`.inbound`: binary and reserved events refused, no traceback for anything it sends);
* only the lab's own page, and programs, may reach it (:mod:`.gate`: Host and Origin);
* a ``userId`` already in a room cannot be taken by another socket; every notice about a room
  (``userJoinedRoom``, ``userLeftRoom``, ``userJoinedVoice``, ``userLeftVoice``) names it in an
  added field ``room`` (the seed's clients ignore it), and one that arrives for someone who has
  left that room meanwhile is not delivered (with Redis, a notice can cross a move).

This module holds the handlers (:class:`SignalingApp`), and makes what they work with, giving
each piece what it needs and never itself: the store, the trace, :mod:`.delivery` (how messages
reach people), :mod:`.inbound` (the guard in front of python-socketio), :mod:`.sessions` and
:mod:`.http` (the routes and the gate in front of them). :mod:`.serve` listens for it (the
listening :class:`~.serve.SignalingServer` and the ``talklab-server`` command).

Tested in tests/test_server.py (every handler, through real Socket.IO clients on both WebSocket
paths: the seed's Dave scenario, the voice cap, relays kept inside one room's voice channel,
malformed payloads refused) and tests/test_seed_client.py (the seed's own Node client).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from . import fastpath, payloads
from .classroom import REPORT_EVENT, ClassState, link_report
from .delivery import Delivery
from .gate import Gate
from .http import TURN, Site
from .inbound import Inbound
from .limits import Limits, QuietLog, TokenBucket
from .member import Member, RoomError, VoiceFull
from .options import SOCKETIO_OPTIONS
from .payloads import InvalidPayload
from .rooms import DEFAULT_VOICE_CAP, Rooms
from .sessions import Sessions
from .store import MemoryStore, Store, StoreUnavailable
from .trace import SERVER, Names, Trace
from .transport import drop

log = logging.getLogger("talklab.server")

Handler = Callable[..., Awaitable[None]]
IceServers = list[dict] | Callable[[], list[dict]]
UNAVAILABLE = "the room service did not answer; try again"


def _guarded(event: str) -> Callable[[Handler], Handler]:
    """Wrap a handler: trace the incoming event; turn refusals into ``signalingError``."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(self: SignalingApp, sid: str, data: Any = None, *extra: Any) -> None:
            try:
                self._trace_in(event, sid, self._room_of(sid), data)
                await handler(self, sid, data)
            except (InvalidPayload, RoomError) as exc:
                await self.refuse(sid, event, str(exc))
            except StoreUnavailable as exc:  # Redis stopped answering: say so, no traceback
                self.quiet("unavailable", "%s from %s: %s", event, sid, exc,
                           level=logging.WARNING)
                await self.refuse(sid, event, f"{UNAVAILABLE} ({exc})")
            except RecursionError:  # (bad input that got past orjson's own depth limit)
                await self.refuse(sid, event, "the payload is nested too deeply")
            except Exception:  # a bug must cost one event, never the server
                if self.quiet("bug:" + event, "handler for %s failed", event,
                              level=logging.ERROR):
                    log.exception("handler for %s failed (traceback)", event)
                await self.refuse(sid, event, "internal error")

        return run

    return wrap


def _checked_ice_servers(value: Any) -> IceServers:
    """``ice_servers`` as given: a list of dicts (RTCIceServer), or a zero-argument callable
    returning one (read each time the browser page asks ``GET /config``)."""
    if callable(value):
        return value
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, dict) for s in value):
        raise TypeError("ice_servers must be a list of dicts (RTCIceServer: urls, username, "
                        f"credential) or a zero-argument callable returning one, not {value!r}")
    return [dict(s) for s in value]


class SignalingApp:
    """The Socket.IO application: handlers, store and trace. No listening socket of its own.

    ``redis_url`` keeps rooms in Redis (shared with every server on the same database) instead
    of this process; ``fast_path`` chooses talklab's own WebSocket loop (:mod:`.fastpath`);
    ``ice_servers`` is what the browser page is told to use; ``limits`` the budgets of each
    client (:class:`.limits.Limits`); ``host`` the address the server listens on and
    ``allowed_origins`` the pages besides its own that may reach it (:mod:`.gate`); ``token``
    what ``GET /trace`` asks for (random unless given).
    """

    def __init__(self, *, voice_cap: int = DEFAULT_VOICE_CAP, trace_size: int = 10_000,
                 ice_servers: IceServers | None = None, redis_url: str | None = None,
                 fast_path: bool = True, limits: Limits | None = None,
                 host: str = "127.0.0.1", allowed_origins: Iterable[str] = (),
                 token: str | None = None) -> None:
        if not isinstance(voice_cap, int) or isinstance(voice_cap, bool) or voice_cap < 1:
            raise ValueError(f"voice_cap must be a whole number of at least 1, not {voice_cap!r}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a talklab.server.Limits, not {limits!r}")
        self._ice_servers = _checked_ice_servers(ice_servers)
        self.limits = limits or Limits()
        self.gate = Gate(host, allowed_origins)
        self.token: str = token or secrets.token_urlsafe(24)
        self.quiet = QuietLog(log, self.limits.refusal_log_interval)
        self.trace = Trace(trace_size)
        self.names = Names()  # who each socket is, for the trace
        self._learn, self._name, self._room_of = \
            self.names.learn, self.names.name, self.names.room_of
        self.store: Store
        if redis_url:
            from .redis import RedisStore  # (Redis's modules load only when asked for)
            self.store = RedisStore(redis_url, voice_cap=voice_cap, on_reaped=self._reaped,
                                    on_forwarded=self._forwarded,
                                    on_unreachable=self._unreachable)
        else:
            self.store = MemoryStore(Rooms(voice_cap=voice_cap))
        self._buckets: dict[str, TokenBucket] = {}  # sid -> its room changes
        self.closing = False  # the server is shutting down: nobody is told who leaves
        self.classroom = ClassState()  # locked rooms, and what people report of their calls
        self.sio = fastpath.socketio_server(fast_path=fast_path, limits=self.limits,
                                            on_session=self._session_opened,
                                            **SOCKETIO_OPTIONS)
        self.fast_path_active: bool = self.sio.fast_path_active
        self.sessions = Sessions(self.limits, self._close_session)
        self.delivery = Delivery(self.sio, self.store, self.trace, self.names)
        # The handlers send through the delivery's own methods (one attribute to look up on
        # every relay, no call of the app's in between).
        self.send, self.send_to_room, self.refuse = \
            self.delivery.send, self.delivery.send_to_room, self.delivery.refuse
        self.site = Site(token=self.token, gate=self.gate, store=self.store, trace=self.trace,
                         classroom=self.classroom, admit=self.sessions.admit,
                         dashboard=self.dashboard, ice_servers=lambda: self.ice_servers,
                         refusal_log_interval=self.limits.refusal_log_interval)
        self.web = web.Application(middlewares=[self.site.middleware])
        self.sio.attach(self.web)
        self.site.add_routes(self.web.router)
        eio = self.sio.eio
        self.inbound = Inbound(eio.handlers["message"], sid_of=self._sid_of, refuse=self.refuse,
                               close=self._close_session,
                               refusal_log_interval=self.limits.refusal_log_interval)
        engine_disconnect = eio.handlers["disconnect"]

        async def on_engine_message(eio_sid: str, data: Any) -> None:  # (a coroutine function,
            await self.inbound(eio_sid, data)  # as python-engineio checks handlers to be)

        async def on_engine_disconnect(eio_sid: str, *reason: Any) -> None:
            self.sessions.closed(eio_sid)
            await engine_disconnect(eio_sid, *reason)

        eio.on("message", on_engine_message)
        eio.on("disconnect", on_engine_disconnect)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        for event, handler in {
            "joinRoom": self.on_join_room,
            "joinVoice": self.on_join_voice,
            "leaveVoice": self.on_leave_voice,
            "webrtc-offer": self.on_webrtc_offer,
            "webrtc-answer": self.on_webrtc_answer,
            "webrtc-ice-candidate": self.on_webrtc_ice_candidate,
            REPORT_EVENT: self.on_link_report,
        }.items():
            self.sio.on(event, handler)
        self.sio.on("*", self.on_unknown)

    # -- starting and stopping (the listening server's: .serve) ------------------------------
    async def start(self) -> None:
        """Start the store (with Redis: connect, subscribe, load the rooms); the store is
        closed again if that fails."""
        try:
            await self.store.start()
        except BaseException:
            await self.store.close()
            raise
        self.closing = False

    async def disconnect_everyone(self) -> None:
        """The server is shutting down: every client is disconnected and nobody is told that
        anyone left (the seed's Step 9: their audio still flows peer to peer)."""
        self.closing = True
        self.sessions.stop()
        for eio_socket in list(self.sio.eio.sockets.values()):
            # wait=False: a client that already hung up never drains its queue, and engineio's
            # default close would wait for that forever.
            await eio_socket.close(wait=False)
        self.sio.eio.sockets.clear()
        await self.sio.shutdown()

    async def close(self) -> None:
        """Close the store (with Redis: this server's people are freed quietly)."""
        await self.store.close()

    @property
    def rooms(self) -> Rooms:
        """This process's view of the rooms: the memory store's, or (with Redis) the replica's.
        Prefer :meth:`members`, which asks the store itself."""
        rooms = getattr(self.store, "rooms", None)
        if not isinstance(rooms, Rooms):
            raise AttributeError(f"{type(self.store).__name__} keeps no rooms in this process")
        return rooms

    async def members(self, room: str) -> list[dict]:
        """The members of ``room`` as the seed's clients see them (``socketId``, ``userId``,
        ``username``, ``inVoice``), in join order, read from the store (Redis included)."""
        return [m.public() for m in await self.store.members(payloads.room({"room": room}))]

    @property
    def ice_servers(self) -> list[dict]:
        """What ``GET /config`` tells the browser page to use (read now, if a callable)."""
        value = self._ice_servers
        servers = value() if callable(value) else value
        if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
            raise TypeError(f"the ice_servers callable returned {servers!r}, not a list of dicts")
        return servers

    @ice_servers.setter
    def ice_servers(self, value: IceServers) -> None:
        self._ice_servers = _checked_ice_servers(value)

    @property
    def stale_dropped(self) -> int:
        """Notices not delivered: their room was left meanwhile (:mod:`.delivery`)."""
        return self.delivery.stale_dropped

    # -- the trace ---------------------------------------------------------------------------
    def _trace_in(self, event: str, sid: str, room: str | None, data: Any) -> None:
        self.trace.record(event, sid, SERVER, room, data, self._name)

    # -- what the store reports (Redis), handed to the delivery -------------------------------
    def _forwarded(self, batch: Iterable[tuple[str, str | None, str]]) -> None:
        self.delivery.forwarded(batch)  # (the store is made before the delivery that uses it)

    def _unreachable(self, refusals: list[tuple[str, str, str]]) -> None:
        self.delivery.unreachable(refusals)

    # -- connection lifecycle -----------------------------------------------------------------
    def _sid_of(self, eio_sid: str) -> str | None:
        """The Socket.IO id of an Engine.IO session (None: not connected to the namespace)."""
        return self.sio.manager.sid_from_eio_sid(eio_sid, "/")

    def _session_opened(self, eio_sid: str, environ: dict) -> None:
        """An Engine.IO session opened: pending until it connects to the namespace."""
        request = environ.get("aiohttp.request")
        environ["talklab.eio_sid"] = eio_sid
        self.sessions.opened(eio_sid, getattr(request, "remote", None) or "?")
        give_back = request.get(TURN) if request is not None else None
        if callable(give_back):
            give_back()  # (its turn to open a session is over: a WebSocket stays open)

    async def _close_session(self, eio_sid: str) -> None:
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is not None:
            await drop(sock)

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        self.sessions.connected(environ.get("talklab.eio_sid", ""))
        self._trace_in("connect", sid, None, {})

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        self._trace_in("disconnect", sid, self._room_of(sid), {})
        self._buckets.pop(sid, None)
        self.classroom.forget(sid)
        try:
            member, members = await self.store.leave_room(sid)
        except StoreUnavailable as exc:  # (the Redis store retries it later, and tells then)
            self.quiet("unavailable", "%s hung up, but the room service did not answer: %s",
                       sid, exc, level=logging.WARNING)
        else:
            # The seed's Step 9: when the server itself shuts down, its job is done. Nobody is
            # told that anyone left: their audio still flows peer to peer.
            if member is not None and not self.closing:
                await self._tell_left(member, members)
        self.names.forget(sid)

    async def _leave_room(self, sid: str) -> None:
        """Free the seat and the membership; tell the room (voice first, then the room)."""
        member, members = await self.store.leave_room(sid)
        if member is not None:
            await self._tell_left(member, members)

    async def _tell_left(self, member: Member, members: list[Member]) -> None:
        gone = {"socketId": member.sid, "room": member.room}
        if member.in_voice:
            await self.send_to_room("userLeftVoice", gone, members, skip=member.sid)
        await self.send_to_room("userLeftRoom", gone, members, skip=member.sid)

    async def _reaped(self, gone: list[tuple[Member, list[Member]]]) -> None:
        """People who left without the rooms being told (Redis mode: their server died, or
        Redis did not answer when they hung up): their seats are free now."""
        if self.closing:
            return
        for member, members in gone:
            await self._tell_left(member, members)

    def _allow_room_change(self, sid: str) -> None:
        """A room change (joinRoom, joinVoice, leaveVoice) of ``sid`` within its rate, or
        :class:`RoomError` saying when to try again (nothing changes)."""
        bucket = self._buckets.get(sid)
        if bucket is None:
            bucket = self._buckets[sid] = TokenBucket(self.limits.room_changes_burst,
                                                      self.limits.room_changes_per_second)
        if not bucket.take():
            self.quiet("rate", "%s: too many room changes", sid)
            raise RoomError(f"too many room changes (at most {self.limits.room_changes_burst} "
                            f"at once, then {self.limits.room_changes_per_second:g} a second); "
                            f"try again in {bucket.wait():.1f} s")

    # -- rooms --------------------------------------------------------------------------------
    @_guarded("joinRoom")
    async def on_join_room(self, sid: str, data: Any) -> None:
        self._allow_room_change(sid)
        p = payloads.join_room(data)
        current = await self.store.member(sid)
        if current is not None and current.room == p["room"]:
            raise RoomError(f"already in room {p['room']}")
        self.classroom.check_open(p["room"])  # (a room the teacher locked)
        if current is not None:  # moving to another room: leave the old one properly
            self.classroom.forget(sid)
            await self._leave_room(sid)
        member, members = await self.store.join_room(sid, p["room"], p["username"], p["userId"])
        self._learn(*members)
        await self.send("roomJoined", {
            "room": member.room,
            "socketId": sid,
            "members": [m.public() for m in members],
        }, sid, member.room)
        await self.send_to_room("userJoinedRoom", {**member.identity(), "room": member.room},
                                members, skip=sid)

    # -- voice: the seed's Step 2 -------------------------------------------------------------
    @_guarded("joinVoice")
    async def on_join_voice(self, sid: str, data: Any) -> None:
        self._allow_room_change(sid)
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
        await self.send_to_room("userJoinedVoice", {**member.identity(), "room": room},
                                members, skip=sid)

    @_guarded("leaveVoice")
    async def on_leave_voice(self, sid: str, data: Any) -> None:
        self._allow_room_change(sid)
        room = payloads.room_only(data)["room"]
        _, members = await self.store.leave_voice(sid, room)
        self.classroom.forget(sid)
        await self.send_to_room("userLeftVoice", {"socketId": sid, "room": room}, members,
                                skip=sid)
        await self.send("voiceLeft", {"room": room}, sid, room)

    # -- the relays: the seed's Steps 4, 6 and 8 ----------------------------------------------
    async def _relay(self, sid: str, event: str, key: str, p: dict) -> None:
        sender, target = await self.store.check_relay(sid, p["to"])
        self._learn(sender, target)
        await self.send(event, {key: p[key], "from": sid}, target.sid, sender.room,
                        relay_from=sid)

    @_guarded("webrtc-offer")
    async def on_webrtc_offer(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-offer", "offer", payloads.description(data, "offer"))

    @_guarded("webrtc-answer")
    async def on_webrtc_answer(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-answer", "answer", payloads.description(data, "answer"))

    @_guarded("webrtc-ice-candidate")
    async def on_webrtc_ice_candidate(self, sid: str, data: Any) -> None:
        await self._relay(sid, "webrtc-ice-candidate", "candidate", payloads.ice_candidate(data))

    # -- talklab's own: the class dashboard (.classroom) -------------------------------------
    @_guarded(REPORT_EVENT)
    async def on_link_report(self, sid: str, data: Any) -> None:
        links = link_report(data, self.store.voice_cap)
        member = await self.store.member(sid)
        if member is None or not member.in_voice:
            raise RoomError("only someone in voice reports their calls")
        self.classroom.report(member, links)

    def dashboard(self) -> list[dict]:
        """Every room of this server as a teacher sees it (:mod:`.classroom`)."""
        return self.classroom.dashboard(self.rooms.rooms(), self.store.voice_cap,
                                        self.trace.by_room())

    async def on_unknown(self, event: str, sid: str, *data: Any) -> None:
        await self._unknown(sid, event, data[0] if data else None)

    async def _unknown(self, sid: str, event: str, data: Any) -> None:
        try:
            self._trace_in(str(event)[:64], sid, self._room_of(sid), data)
        except Exception as exc:  # (the trace never fails on input; if it did, say so once)
            self.quiet("trace", "tracing %r failed: %r", str(event)[:64], exc)
        await self.refuse(sid, str(event)[:64], f"unknown event {str(event)[:64]!r}")
