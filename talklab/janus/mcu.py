"""The MCU: a Janus AudioBridge. Each person uploads one stream and downloads one: the mix.

A Multipoint Control Unit decodes every incoming stream, mixes them, and encodes one stream
per listener (RFC 7667, section 3.6, "Mixer"): each listener gets the sum of everyone *but
themselves* (no echo of your own voice). Upload and download per person: 1 stream each,
whatever the room's size; the server pays for n decodes and n encodes.

The AudioBridge plugin's protocol (Janus docs, "AudioBridge plugin"), as a person runs it:

1. attach a handle and ``join`` the room with a display name; Janus answers ``joined`` with
   this person's ``id`` and the ``participants`` already there;
2. ``configure {muted: false}`` with the person's SDP offer (one audio stream, sendrecv);
   Janus answers it, and from then on sends back the mix on the same connection;
3. ``participants`` and ``leaving`` events on the handle say who comes and goes.

Hearing, in the MCU, is measured differently: the one stream holds several voices, so
:meth:`McuPerson.hears` measures the energy at each known tone of the room's people
(:mod:`talklab.janus.mix`), and the person's own tone should be absent.

Tested in tests/test_janus_room.py (an MCU room of three: everyone hears everyone else in the one
mix, and not themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from talklab import _aiortc
from talklab.browser.media import MediaStream
from talklab.events import EventBus
from talklab.janus.client import Handle, Json
from talklab.janus.mix import relative_levels, tone_levels, voices_in_mix
from talklab.janus.peer import JanusLink
from talklab.janus.room import Person, Room, Seat
from talklab.janus.server import Janus

SAMPLING_RATE = 48_000  # the mixer's rate: Opus's own, so nothing is resampled
VOLUME = 30  # percent: each voice's share of the mix (see McuRoom)


@dataclass(frozen=True)
class McuSeat(Seat):
    """A seat in an AudioBridge, and the share of the mix (percent) each voice is given."""

    volume: int


class McuPerson(Person):
    """A person in an AudioBridge: one ``mix`` link, voice up and the mix down."""

    seat: McuSeat

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participant: int | None = None  # this person's id in the AudioBridge room
        self.participants: dict[int, str] = {}  # the others Janus told us about: id -> name
        self.handle: Handle | None = None

    async def join(self) -> None:
        self.session = await self.seat.client.create_session()
        self.handle = await self.attach()
        self.handle.listeners.append(self._on_event)
        joined = await self.handle.request({
            "request": "join", "room": self.seat.id, "display": self.name, "muted": True,
            "volume": self.seat.volume})
        self.participant = int(joined.data["id"])
        self._participants(joined.data.get("participants", []))
        link = self.new_link("mix", voice_of="mix")
        link.handle = self.handle
        offer = await link.offer(self.fanout.subscribe(), receive=True)
        configured = await self.handle.request({"request": "configure", "muted": False},
                                               jsep=offer)
        if configured.jsep is None:
            raise RuntimeError(f"the AudioBridge did not answer {self.name}'s offer: "
                               f"{configured.data}")
        await link.accept(configured.jsep)
        link.step("configured")

    def _on_event(self, event: Json) -> None:
        data = event.get("plugindata", {}).get("data", {})
        if data.get("audiobridge") != "event":
            return
        self._participants(data.get("participants", []))
        gone = data.get("leaving")
        if isinstance(gone, int):
            self.participants.pop(gone, None)
        self.changed()

    def _participants(self, participants: list[Json]) -> None:
        for participant in participants:
            if int(participant["id"]) != self.participant:
                self.participants[int(participant["id"])] = str(participant.get("display"))

    @property
    def mix(self) -> JanusLink | None:
        return next((link for link in self.links if link.kind == "mix" and not link.closed),
                    None)

    # -- what an MCU person can tell ---------------------------------------------------------------
    def expected(self) -> dict[str, str]:
        """One connection, two streams: the voice up to the mixer, and the mix down."""
        link = self.mix
        if link is None:
            return {"voice up": "missing", "mix down": "missing"}
        return {"voice up": self.voice_up(link), "mix down": link.state}

    def has_heard(self, name: str) -> bool:
        """``name``'s tone is found in the mix this person receives (over its last 0.2 s)."""
        return name in self.hears(0.2)

    def _recording(self, seconds: float) -> Any:
        link = self.mix
        if link is None or link.ear is None:
            return None
        return link.ear.recording(seconds)

    def levels(self, seconds: float = 1.0) -> dict[str, float]:
        """``{name: amplitude}``: how much of each person's tone is in the mix this person
        receives (fraction of full scale), this person's own included."""
        samples = self._recording(seconds)
        return {} if samples is None else tone_levels(samples, self.tones())

    def relative_levels(self, seconds: float = 1.0) -> dict[str, float]:
        """:meth:`levels` divided by the strongest: others near 1, oneself near 0."""
        return relative_levels(self.levels(seconds))

    def hears(self, seconds: float = 1.0) -> dict[str, float]:
        """``{name: Hz}``: each person whose tone is found in the mix, with its pitch measured
        there (this person's own voice is not mixed back, so it should not appear)."""
        samples = self._recording(seconds)
        return {} if samples is None else voices_in_mix(samples, self.tones())


class McuRoom(Room):
    """An AudioBridge room on a :class:`~talklab.janus.Janus`: ``async with McuRoom(janus) as
    room``, then ``await room.join("Alice")``."""

    plugin = "janus.plugin.audiobridge"
    person_class = McuPerson

    def __init__(self, janus: Janus, *, volume: int = VOLUME, name: str = "general",
                 events: EventBus | None = None,
                 settings: _aiortc.Settings | None = None) -> None:
        """``volume`` (percent) scales each voice before the AudioBridge adds them up. The
        mixer sums and clamps to 16 bits: at 100 %, five of talklab's tones (0.3 of full scale
        each) can add up past full scale and clip, and clipping's intermodulation products land
        exactly on other people's tones (2 x 880 - 990 = 770 Hz), so a person would seem to
        hear their own voice in the mix. At 30 %, nine voices still fit (9 x 0.09 < 1)."""
        super().__init__(janus, name=name, events=events, settings=settings)
        if not 1 <= volume <= 100:
            raise ValueError(f"volume is a percentage, 1-100, not {volume}")
        self.volume = volume

    def seat(self) -> McuSeat:
        seat = super().seat()
        return McuSeat(seat.id, seat.name, seat.plugin, seat.client, seat.settings, self.volume)

    async def create(self, handle: Handle) -> int:
        created = await handle.request({
            "request": "create", "description": "talklab MCU", "sampling_rate": SAMPLING_RATE,
            "audiolevel_event": False, "record": False})
        return int(created.data["room"])

    async def destroy(self, handle: Handle) -> None:
        await handle.request({"request": "destroy", "room": self.id}, timeout=3)

    async def join(self, name: str, *, tone_hz: float | None = None,
                   stream: MediaStream | None = None, host: str = "127.0.0.1") -> McuPerson:
        person = await super().join(name, tone_hz=tone_hz, stream=stream, host=host)
        assert isinstance(person, McuPerson)
        return person
