"""The SFU: a Janus VideoRoom, audio only. Each person uploads one stream; Janus forwards it.

A Selective Forwarding Unit receives each person's RTP stream and forwards the packets,
unchanged and undecoded, to everyone who subscribed (RFC 7667, section 3.7, "Selective
Forwarding Middlebox"). Upload per person: 1 stream, whatever the room's size. Download: one
stream per other person (n−1), each decoded by the listener, as in the mesh.

The VideoRoom plugin's protocol (Janus docs, "VideoRoom plugin"), as a person runs it:

1. attach a *publisher* handle and ``join`` with ``ptype: "publisher"`` and a display name;
   Janus answers ``joined`` with this person's feed ``id``, a ``private_id``, and the
   ``publishers`` already sending;
2. ``configure {audio: true, video: false}`` with the person's SDP offer; Janus answers it;
3. for each other publisher (those listed at join, and those announced later by a
   ``publishers`` event on the publisher handle), attach a *subscriber* handle, ``join`` with
   ``ptype: "subscriber"``, ``streams: [{feed}]`` and the ``private_id``: Janus makes the offer,
   the person answers it with ``start``;
4. ``unpublished`` or ``leaving`` for a feed: that subscriber link is closed.

One subscriber handle and connection per feed: the simplest shape, and each stream keeps its
own DTLS, so one slow handshake never holds up the others. When Janus offers, it proposes
``a=setup:actpass``, and an answerer usually takes the DTLS *client* role: then 3 handshakes
in 144 (sequential or parallel, rooms of 4) stalled about one second, the length of OpenSSL's
first DTLS retransmission timer; the likely cause is a ClientHello reaching Janus before its
side of the connection is ready for it. A subscription here answers ``a=setup:passive``
instead (:meth:`talklab.janus.peer.JanusLink.answer`): Janus, now the client, starts the
handshake when it is ready, aiortc queues whatever arrives early, and none of 144 stalled. So
a person's subscriptions are all made at once; ``one_at_a_time=True`` makes the room's
subscriptions strictly sequential instead, for comparison.

Tested in tests/test_janus_room.py (an SFU room of three: everyone hears everyone; someone leaves
and the others let go of that stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from talklab import _aiortc
from talklab.browser.media import MediaStream
from talklab.events import EventBus
from talklab.janus.client import Handle, Json
from talklab.janus.peer import JanusLink
from talklab.janus.room import Person, Room, Seat
from talklab.janus.server import Janus
from talklab.tasks import cancel_and_wait

MAX_PUBLISHERS = 64
DONE = ("connected", "failed", "closed")
HANDSHAKE_WAIT = 10.0  # s, at most, before the next subscription starts anyway


@dataclass(frozen=True)
class SfuSeat(Seat):
    """A seat in a VideoRoom, and how the room's subscriptions are made: at once, or (with
    ``one_at_a_time``) each after the last one's handshake, holding ``subscribing``."""

    one_at_a_time: bool
    subscribing: asyncio.Lock | contextlib.nullcontext[None]


class SfuPerson(Person):
    """A person in a VideoRoom: one publish link, one subscribe link per other person."""

    seat: SfuSeat

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feed: int | None = None  # this person's feed id in the room
        self.private_id: int | None = None
        self.publisher: Handle | None = None
        self.feeds: dict[int, str] = {}  # other feeds seen: id -> display name
        self.errors: list[str] = []  # subscriptions that failed, and why
        self._tasks: dict[int, asyncio.Task[None]] = {}  # one per feed: subscribing
        self._leaving: set[asyncio.Task[None]] = set()  # unsubscribing
        self._early: list[Json] | None = None  # the room's news read before the join's answer

    async def join(self) -> None:
        self.session = await self.seat.client.create_session()
        self.publisher = await self.attach()
        # Listening before joining: Janus's long poll can bring the join's answer and, in the
        # same batch, news of a publisher who just started sending; the news is handed to the
        # handle's listeners before this coroutine resumes, and would be lost. Kept until the
        # answer is read, then handled.
        self._early = []
        self.publisher.listeners.append(self._on_event)
        try:
            joined = await self.publisher.request({
                "request": "join", "ptype": "publisher", "room": self.seat.id,
                "display": self.name})
        finally:
            early, self._early = self._early or [], None
        self.feed = int(joined.data["id"])
        self.private_id = joined.data.get("private_id")
        for event in early:
            self._on_event(event)
        link = self.new_link("publish")
        link.handle = self.publisher
        offer = await link.offer(self.fanout.subscribe(), receive=False)
        configured = await self.publisher.request(
            {"request": "configure", "audio": True, "video": False}, jsep=offer)
        if configured.jsep is None:
            raise RuntimeError(f"the VideoRoom did not answer {self.name}'s offer: "
                               f"{configured.data}")
        await link.accept(configured.jsep)
        self._publishers(joined.data.get("publishers", []))

    # -- the room's news, on the publisher handle --------------------------------------------------
    def _on_event(self, event: Json) -> None:
        if self._early is not None:
            self._early.append(event)
            return
        data = event.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "event":
            return
        self._publishers(data.get("publishers", []))
        for key in ("unpublished", "leaving"):
            gone = data.get(key)
            if isinstance(gone, int) and gone in self.feeds:
                task = asyncio.ensure_future(self._unsubscribe(gone))
                self._leaving.add(task)
                task.add_done_callback(self._leaving.discard)

    def _publishers(self, publishers: list[Json]) -> None:
        for publisher in publishers:
            feed = int(publisher["id"])
            has_audio = any(s.get("type") == "audio" and not s.get("disabled")
                            for s in publisher.get("streams", [{"type": "audio"}]))
            if feed != self.feed and feed not in self.feeds and has_audio:
                self.feeds[feed] = str(publisher.get("display") or feed)
                self._tasks[feed] = asyncio.ensure_future(self._subscription(feed))

    async def _subscription(self, feed: int) -> None:
        """Subscribe to one feed, in a task of its own: all of a person's subscriptions are
        made at once (unless the room makes them one at a time)."""
        _aiortc.bind(self.seat.settings)
        try:
            async with self.seat.subscribing:
                await self._subscribe(feed)
        except Exception as exc:  # a failed subscription must not end the others
            self.errors.append(f"feed {feed} ({self.feeds.get(feed)}): "
                               f"{type(exc).__name__}: {exc}")
            self.changed()

    async def _subscribe(self, feed: int) -> None:
        if self.closed:
            return
        link = self.new_link("subscribe", voice_of=self.feeds[feed])
        link.feed = feed
        link.step("subscribing")
        link.handle = await self.attach()
        link.step("handle attached")
        attached = await link.handle.request({
            "request": "join", "ptype": "subscriber", "room": self.seat.id,
            "streams": [{"feed": feed}], "private_id": self.private_id})
        if attached.jsep is None:
            raise RuntimeError(f"no offer from the VideoRoom for feed {feed}: {attached.data}")
        link.step("offer received")
        answer = await link.answer(attached.jsep)
        await link.handle.request({"request": "start"}, jsep=answer)
        link.step("started")
        if self.seat.one_at_a_time:  # the next handshake waits until this one is done
            await self.wait_until(lambda: link.pc.connectionState in DONE, HANDSHAKE_WAIT,
                                  f"the handshake of {link.label}")

    async def _unsubscribe(self, feed: int) -> None:
        task = self._tasks.pop(feed, None)
        await cancel_and_wait(task)
        for link in [x for x in self.links if x.feed == feed and not x.closed]:
            await link.close()
            self.links.remove(link)
        self.feeds.pop(feed, None)
        self.changed()

    async def leave(self) -> None:
        for task in [*self._tasks.values(), *self._leaving]:
            task.cancel()
        for task in [*self._tasks.values(), *self._leaving]:
            await cancel_and_wait(task)
        self._tasks.clear()
        if self.publisher is not None and not self.closed:
            with contextlib.suppress(Exception):
                await self.publisher.request({"request": "leave"}, timeout=2)
        await super().leave()

    # -- what an SFU person can tell ---------------------------------------------------------------
    def has_heard(self, name: str) -> bool:
        """A subscription to ``name``'s feed has brought this person audio."""
        return any(link.kind == "subscribe" and link.voice_of == name and not link.closed
                   and link.ear is not None and link.ear.heard for link in self.links)

    def expected(self) -> dict[str, str]:
        """The voice up to Janus (``publish``), and one stream down from every other person
        in the room (``from Bob``), each with its state."""
        links = [link for link in self.links if not link.closed]
        publish = next((link for link in links if link.kind == "publish"), None)
        out = {"publish": self.voice_up(publish) if publish is not None else "missing"}
        for other in self.others():
            down = next((link for link in reversed(links) if link.kind == "subscribe"
                         and link.voice_of == other), None)
            out[f"from {other}"] = down.state if down is not None else "missing"
        return out

    def hears(self, seconds: float = 1.0) -> dict[str, float]:
        """``{display name: Hz}``: the pitch of each subscribed stream (one voice each)."""
        out = {}
        for link in self.links:
            if link.kind == "subscribe" and link.ear is not None and not link.closed:
                hz = link.ear.pitch(seconds)
                if hz is not None and link.voice_of is not None:
                    out[link.voice_of] = round(hz, 2)
        return out


class SfuRoom(Room):
    """An audio-only VideoRoom on ``janus``: ``async with SfuRoom(janus) as room``, then
    ``await room.join("Alice")``."""

    plugin = "janus.plugin.videoroom"
    person_class = SfuPerson

    def __init__(self, janus: Janus, *, one_at_a_time: bool = False, name: str = "general",
                 events: EventBus | None = None,
                 settings: _aiortc.Settings | None = None) -> None:
        super().__init__(janus, name=name, events=events, settings=settings)
        self.one_at_a_time = one_at_a_time
        self.subscribing: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if one_at_a_time else contextlib.nullcontext())

    def seat(self) -> SfuSeat:
        seat = super().seat()
        return SfuSeat(seat.id, seat.name, seat.plugin, seat.client, seat.settings,
                       self.one_at_a_time, self.subscribing)

    async def create(self, handle: Handle) -> int:
        created = await handle.request({
            "request": "create", "description": "talklab SFU", "audiocodec": "opus",
            "publishers": MAX_PUBLISHERS, "notify_joining": False})
        return int(created.data["room"])

    async def destroy(self, handle: Handle) -> None:
        await handle.request({"request": "destroy", "room": self.id}, timeout=3)

    async def join(self, name: str, *, tone_hz: float | None = None,
                   stream: MediaStream | None = None, host: str = "127.0.0.1") -> SfuPerson:
        person = await super().join(name, tone_hz=tone_hz, stream=stream, host=host)
        assert isinstance(person, SfuPerson)
        return person

    def links(self) -> list[JanusLink]:
        return [link for p in self.people.values() for link in p.links if not link.closed]
