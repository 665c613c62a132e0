"""A bare Socket.IO client that speaks the seed's events and remembers what it received.

:class:`talklab.browser.person.Person` is the full "browser"; this is the protocol with nothing
on top, for notebook 02 (send ``joinVoice`` by hand and see what comes back) and for tests.
Every event the server sends is kept in order in :attr:`SignalingClient.received`, and
:meth:`next` waits for the next one of a kind, with a timeout, instead of sleeping. A notice
that names a room other than the one this client last joined (talklab's server adds ``room``
to every notice) is stale: it goes to :attr:`SignalingClient.stale` instead.

Tested in tests/test_lab_security.py (stale notices kept apart), tests/test_ready.py (a client whose
server went is told so) and every test of tests/test_server.py, which drives the server through this
client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio

from talklab.browser.room import NOTICES
from talklab.events import until
from talklab.notebook import Sentence, made_by

# The client libraries' own loggers, as a library's should be: silent unless the application
# configures logging. python-socketio and python-engineio otherwise attach a stderr handler of
# their own, and a client whose server has closed (the seed's Step 9, shown in notebook 02)
# prints "packet queue is empty, aborting" into a notebook half a minute later. What a lost
# connection means is published as talklab's own events instead ("signaling-lost").
CLIENT_LOGGERS = (logging.getLogger("talklab.browser.signaling.socketio"),
                  logging.getLogger("talklab.browser.signaling.engineio"))
for _logger in CLIENT_LOGGERS:
    _logger.addHandler(logging.NullHandler())


def client() -> socketio.AsyncClient:
    """A Socket.IO client as talklab's people and tools use one: no reconnection (a browser
    that lost its server shows it), no SIGINT handler (python-socketio's would stop the event
    loop, so Interrupt Kernel in Jupyter would kill the kernel), talklab's quiet loggers."""
    return socketio.AsyncClient(reconnection=False, handle_sigint=False,
                                logger=CLIENT_LOGGERS[0], engineio_logger=CLIENT_LOGGERS[1])


SEED_EVENTS = (
    "roomJoined", "userJoinedRoom", "userLeftRoom", "voiceJoined", "voiceLeft", "voiceError",
    "userJoinedVoice", "userLeftVoice", "webrtc-offer", "webrtc-answer", "webrtc-ice-candidate",
    "signalingError",
)


class Disconnected(Sentence, ConnectionError):
    """A client whose connection to the signaling server is gone was asked to send."""


class SignalingClient:
    """One Socket.IO connection to a talklab (or seed) signaling server."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.sio = client()
        self.received: list[tuple[str, Any]] = []
        self.room: str | None = None  # the room of the last roomJoined
        self.stale: list[tuple[str, Any]] = []  # notices about a room left meanwhile (dropped)
        self._cursor: dict[str, int] = {}
        self._arrived = asyncio.Event()
        self.made_by: str | None = None  # in a notebook, the cell that connected it
        self.sio.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        if event == "roomJoined" and isinstance(data, dict) and isinstance(data.get("room"), str):
            self.room = data["room"]
        elif event in NOTICES and isinstance(data, dict) and isinstance(data.get("room"), str) \
                and data["room"] != self.room:
            self.stale.append((event, data))  # see RoomView.stale: not about our room
            return
        self.received.append((event, data))
        self._arrived.set()

    async def connect(self, url: str, timeout: float = 5,
                      transports: tuple[str, ...] = ("websocket",)) -> SignalingClient:
        """Connect over a WebSocket (as talklab's people do); ``transports=("polling",
        "websocket")`` starts on HTTP long-polling and upgrades, as a browser does by default."""
        await self.sio.connect(url, transports=list(transports), wait_timeout=timeout)
        self.sid: str | None = self.sio.get_sid()  # kept after a disconnect, for the record
        self.made_by = made_by()
        return self

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    async def emit(self, event: str, data: Any = None) -> None:
        if not self.sio.connected:
            raise Disconnected(f"{self.name or 'this client'} is not connected to a signaling "
                               "server (it closed, or the server did)")
        await self.sio.emit(event, data)

    async def next(self, event: str, timeout: float = 5,
                   where: Callable[[Any], bool] | None = None) -> Any:
        """The next ``event`` not yet taken by an earlier ``next``; waits up to ``timeout`` s.

        With ``where``, events of that kind that do not satisfy it are passed over.
        """
        def find() -> tuple[Any] | None:  # (the data,): an event's data may itself be None
            for i in range(self._cursor.get(event, 0), len(self.received)):
                if self.received[i][0] == event:
                    self._cursor[event] = i + 1
                    if where is None or where(self.received[i][1]):
                        return (self.received[i][1],)
            self._cursor[event] = len(self.received)
            return None

        try:
            return (await until(self._arrived, find, timeout))[0]
        except TimeoutError:
            seen = [e for e, _ in self.received[-8:]]
            raise TimeoutError(f"{self.name or 'client'}: no {event!r} within {timeout}s "
                               f"(last received: {seen})") from None

    async def first(self, *events: str, timeout: float = 5) -> tuple[str, Any]:
        """``(event, data)`` for whichever of ``events`` comes next (e.g. voiceJoined or
        voiceError)."""
        def find() -> tuple[str, Any] | None:
            for i in range(min(self._cursor.get(e, 0) for e in events), len(self.received)):
                event, data = self.received[i]
                if event in events and i >= self._cursor.get(event, 0):
                    self._cursor[event] = i + 1
                    return event, data
            return None

        try:
            return await until(self._arrived, find, timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: none of {events} within {timeout}s") from None

    async def last(self, event: str, timeout: float = 5) -> Any:
        """The most recent ``event`` received, waiting up to ``timeout`` s for a first one (so
        a notebook cell that reads it can run again)."""
        if self.all(event):
            return self.all(event)[-1]
        return await self.next(event, timeout)

    def all(self, event: str) -> list[Any]:
        """Every ``event`` received so far."""
        return [d for e, d in self.received if e == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def __aenter__(self) -> SignalingClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
