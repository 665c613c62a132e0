"""A small typed client for the Janus API over HTTP (the "REST" transport).

Janus speaks one JSON protocol over several transports (Janus docs, "The Janus API"). Over
HTTP it is a long-polling protocol, with four kinds of object:

* a **session** (``POST /janus {"janus": "create"}``): one per client, kept alive by a request
  at least every ``session_timeout`` seconds (:meth:`Session.keepalive`, sent every 25 s);
* a **handle** (``POST /janus/<session> {"janus": "attach", "plugin": ...}``): one connection
  to a plugin, and at most one ``RTCPeerConnection`` with Janus;
* a **message** to a plugin (``POST /janus/<session>/<handle> {"janus": "message", "body":
  ..., "jsep": ...}``): a *synchronous* request (a room's ``create``) is answered at once with
  ``success``; an *asynchronous* one (``join``, ``configure``) is answered ``ack``, and its
  result arrives later as an **event** carrying the same ``transaction``, with Janus's SDP
  offer or answer in ``jsep``;
* **events** come back on a long poll (``GET /janus/<session>?maxev=10``), which Janus holds
  open for up to 30 s: one poller task per :class:`Session` dispatches each to the future
  waiting for its transaction, or else to the handle it names (``sender``): ``webrtcup``,
  ``media``, ``hangup``, and plugin events nobody asked for (a new publisher in the room).

Every request carries the lab's ``apisecret`` and the one ``Origin`` its Janus accepts (see
:mod:`talklab.janus.config`). Everything sent and received is kept in :attr:`JanusClient.trace`
(secret removed), for sequence diagrams.

Tested in tests/test_janus_server.py (a request without the lab's secret is refused; the long poll
delivers each event to its request) and tests/test_janus_room.py (every person of an SFU or MCU room
talks to Janus through it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from talklab.tasks import cancel_and_wait, within

KEEPALIVE_EVERY = 25.0  # s; Janus drops a silent session after session_timeout (60 s)
POLL_EVENTS = 10  # events per long-poll answer at most
TRACE_LENGTH = 5000

Json = dict[str, Any]


class JanusError(Exception):
    """Janus refused a request: ``{"janus": "error", "error": {"code", "reason"}}``
    (e.g. 403 "Unauthorized request (wrong or missing secret/token)", 458 no such session)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class PluginError(JanusError):
    """A plugin refused a message (its reply holds ``error_code`` and ``error``)."""


@dataclass(frozen=True)
class TraceEntry:
    t: float  # time.monotonic()
    direction: str  # "sent" or "received"
    path: str  # "/janus", "/janus/<session>", "/janus/<session>/<handle>"
    message: Json


@dataclass(frozen=True)
class Reply:
    """What a plugin answered: its data (``plugindata.data``) and, maybe, an SDP (``jsep``)."""

    data: Json
    jsep: Json | None = None
    event: Json = field(default_factory=dict)  # the whole Janus message


def _reply(message: Json) -> Reply:
    if message.get("janus") == "error":  # an asynchronous refusal, on the long poll
        error = message.get("error", {})
        raise JanusError(int(error.get("code", 0)), str(error.get("reason")))
    data = message.get("plugindata", {}).get("data", {})
    if "error_code" in data or "error" in data:
        raise PluginError(int(data.get("error_code", 0)), str(data.get("error")))
    return Reply(data, message.get("jsep"), message)


class JanusClient:
    """The lab's side of the Janus API: creates :class:`Session` objects."""

    def __init__(self, url: str, *, api_secret: str | None, origin: str | None,
                 timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.api_secret = api_secret
        self.origin = origin
        self.timeout = timeout
        self.trace: collections.deque[TraceEntry] = collections.deque(maxlen=TRACE_LENGTH)
        self.sessions: dict[int, Session] = {}
        self._http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            headers = {"Origin": self.origin} if self.origin else {}
            self._http = aiohttp.ClientSession(headers=headers)
        return self._http

    def transaction(self) -> str:
        return f"tl{next(self._ids)}"

    def _note(self, direction: str, path: str, message: Json) -> None:
        shown = {k: v for k, v in message.items() if k != "apisecret"}
        self.trace.append(TraceEntry(time.monotonic(), direction, path, shown))

    async def post(self, path: str, message: Json) -> Json:
        """Send one request to ``url + path``; returns Janus's answer, raising
        :class:`JanusError` for ``{"janus": "error"}``."""
        message = {**message, "transaction": message.get("transaction") or self.transaction()}
        if self.api_secret is not None:
            message["apisecret"] = self.api_secret
        self._note("sent", path, message)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self._session().post(self.url + path, json=message,
                                        timeout=timeout) as response:
            if response.status != 200:
                raise JanusError(response.status, f"HTTP {response.status} {response.reason}")
            answer: Json = await response.json(content_type=None)
        self._note("received", path, answer)
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason")))
        return answer

    async def get(self, path: str, params: dict[str, str], timeout: float) -> Any:
        if self.api_secret is not None:
            params = {**params, "apisecret": self.api_secret}
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self._session().get(self.url + path, params=params,
                                       timeout=client_timeout) as response:
            if response.status != 200:
                raise JanusError(response.status, f"HTTP {response.status} {response.reason}")
            return await response.json(content_type=None)

    async def info(self) -> Json:
        """``GET /janus/info``: version, plugins, transports, settings (no secret needed)."""
        answer: Json = await self.get("/info", {}, self.timeout)
        return answer

    async def create_session(self) -> Session:
        answer = await self.post("", {"janus": "create"})
        session = Session(self, int(answer["data"]["id"]))
        self.sessions[session.id] = session
        return session

    async def close(self) -> None:
        """Destroy every session still open, and close the HTTP connections."""
        for session in list(self.sessions.values()):
            await session.destroy()
        if self._http is not None:
            await self._http.close()
            self._http = None


class Session:
    """One Janus session: its handles, its long poll, its keepalives."""

    def __init__(self, client: JanusClient, session_id: int) -> None:
        self.client = client
        self.id = session_id
        self.handles: dict[int, Handle] = {}
        self.closed = False
        self.error: BaseException | None = None  # why the long poll stopped, if it failed
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self._poller = asyncio.ensure_future(self._poll())
        self._keeper = asyncio.ensure_future(self._keep_alive())

    @property
    def path(self) -> str:
        return f"/{self.id}"

    async def attach(self, plugin: str) -> Handle:
        """Attach to ``plugin`` (e.g. ``"janus.plugin.videoroom"``): a new :class:`Handle`."""
        answer = await self.client.post(self.path, {"janus": "attach", "plugin": plugin})
        handle = Handle(self, int(answer["data"]["id"]), plugin)
        self.handles[handle.id] = handle
        return handle

    async def keepalive(self) -> None:
        await self.client.post(self.path, {"janus": "keepalive"})

    def expect(self, transaction: str) -> asyncio.Future[Json]:
        """A future for the event that will carry ``transaction``."""
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        return future

    def forget(self, transaction: str) -> None:
        self._pending.pop(transaction, None)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY)
            with contextlib.suppress(JanusError, aiohttp.ClientError, TimeoutError):
                await self.keepalive()

    async def _poll(self) -> None:
        failures = 0
        while not self.closed and self.error is None:  # a failed session is not polled again
            try:
                events = await self.client.get(self.path, {"maxev": str(POLL_EVENTS)},
                                               timeout=45.0)  # Janus answers within 30 s
                failures = 0
            except (TimeoutError, aiohttp.ClientError, JanusError) as exc:
                failures += 1
                if failures >= 3:
                    self._fail(exc)
                    return
                await asyncio.sleep(0.1 * failures)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: Json) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        self.client._note("received", self.path, event)
        if kind == "error" and event.get("error", {}).get("code") == 458:  # no such session
            self._fail(JanusError(458, "Janus no longer knows this session"))
            return
        if kind == "timeout":  # no request for session_timeout seconds: Janus dropped it
            self._fail(JanusError(0, "Janus timed this session out"))
            return
        future = self._pending.get(str(event.get("transaction")))
        if future is not None and kind != "ack":
            self._pending.pop(str(event.get("transaction")), None)
            if not future.done():
                future.set_result(event)
            return
        handle = self.handles.get(int(event.get("sender", 0)))
        if handle is not None:
            handle.received(event)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    async def destroy(self) -> None:
        """Detach every handle and destroy the session (Janus hangs up its connections)."""
        if self.closed:
            return
        self.closed = True
        for task in (self._poller, self._keeper):
            await cancel_and_wait(task)
        with contextlib.suppress(JanusError, aiohttp.ClientError, TimeoutError):
            await self.client.post(self.path, {"janus": "destroy"})
        self._fail(JanusError(0, "session destroyed"))
        self.client.sessions.pop(self.id, None)


class Handle:
    """One handle: a conversation with one plugin, and its events."""

    def __init__(self, session: Session, handle_id: int, plugin: str) -> None:
        self.session = session
        self.id = handle_id
        self.plugin = plugin
        self.history: collections.deque[Json] = collections.deque(maxlen=500)
        self.listeners: list[Callable[[Json], None]] = []
        self._waiters: list[tuple[Callable[[Json], bool], asyncio.Future[Json]]] = []
        self.detached = False

    @property
    def path(self) -> str:
        return f"/{self.session.id}/{self.id}"

    def received(self, event: Json) -> None:
        """An event for this handle that no request was waiting for."""
        self.history.append(event)
        for match, future in list(self._waiters):
            if not future.done() and match(event):
                future.set_result(event)
        for listener in list(self.listeners):
            listener(event)

    async def wait_for(self, match: Callable[[Json], bool], timeout: float) -> Json:
        """The first event (already received, or to come) for which ``match`` is true."""
        for event in self.history:
            if match(event):
                return event
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        waiter = (match, future)
        self._waiters.append(waiter)
        try:
            return await within(future, timeout)
        finally:
            self._waiters.remove(waiter)

    async def request(self, body: Json, jsep: Json | None = None,
                      timeout: float = 10.0) -> Reply:
        """Send ``body`` (and an SDP) to the plugin and return its reply, waiting for the
        event when Janus only acknowledges the message."""
        message: Json = {"janus": "message", "body": body,
                         "transaction": self.session.client.transaction()}
        if jsep is not None:
            message["jsep"] = jsep
        future = self.session.expect(message["transaction"])  # before sending: no race
        try:
            answer = await self.session.client.post(self.path, message)
            if answer.get("janus") == "ack":
                answer = await within(future, timeout)
            return _reply(answer)
        finally:
            self.session.forget(message["transaction"])
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a failure already raised above is not logged

    async def hangup(self) -> None:
        """Ask Janus to close this handle's PeerConnection."""
        with contextlib.suppress(JanusError):
            await self.session.client.post(self.path, {"janus": "hangup"})

    async def detach(self) -> None:
        if self.detached:
            return
        self.detached = True
        with contextlib.suppress(JanusError, aiohttp.ClientError, TimeoutError):
            await self.session.client.post(self.path, {"janus": "detach"})
        self.session.handles.pop(self.id, None)
