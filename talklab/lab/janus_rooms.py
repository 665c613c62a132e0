"""Past the mesh: the same people, in a room that is an SFU or an MCU on the lab's own Janus.

``Lab(topology=...)`` chooses how a room carries its voices:

* ``"mesh"`` (the seed's, the default): a connection between every two people; each uploads
  n − 1 streams and downloads n − 1;
* ``"sfu"``: a Selective Forwarding Unit, Janus's *VideoRoom* plugin (audio only). Each person
  publishes one stream to Janus and subscribes to every other person's, which Janus forwards
  as it came, undecoded: upload 1, download n − 1;
* ``"mcu"``: a Multipoint Control Unit, Janus's *AudioBridge* plugin. Each person sends one
  stream and receives one: the mix of everyone else, decoded, added up and encoded again by
  Janus for that listener: upload 1, download 1.

For ``"sfu"`` and ``"mcu"`` the lab starts its own Janus (:class:`talklab.janus.Janus`: a
generated configuration, loopback only behind talklab's ``getifaddrs`` guard, an ``api_secret``
and an Origin only the lab knows) alongside its signaling server, and one Janus room per room
name. Where Janus is not installed, starting the lab raises
:class:`talklab.janus.JanusUnavailable`, saying what to install.

**Signaling in these rooms is Janus's own API, not the seed's events.** Nobody emits
``joinVoice`` or relays ``webrtc-offer``: each person talks to Janus over HTTP through talklab's
small client (:mod:`talklab.janus.client`): create a session, attach to the plugin, ``join`` the
room, send an offer with ``configure`` (the voice up), and, in the SFU, answer Janus's offer for
each other person's stream (``join`` as a subscriber, then ``start``). The lab's signaling server
still runs (``lab.url``, the browser page), but carries nothing for these people.

What a person has in the mesh, they have here (:class:`talklab.janus.room.Person`):
``hears()`` (in the MCU, every other voice found in the one mix), ``wait_heard()``,
``stats()``, ``link_to(name)`` and each link's ``route``; the lab has ``graph()`` (people and
Janus as nodes, each stream an edge with its direction: draw it with
:func:`talklab.views.streams_drawing`), ``wait_connected()``, ``wait_heard()``, and
:func:`talklab.lab.load.measure` measures it (and Janus's CPU, separately). NATs, TURN and the
seed's event handlers (``lab.on``) belong to the mesh: they are refused here, with the reason.

Tested in tests/test_topologies.py (``Lab(topology="sfu" | "mcu")``: rooms of three all hear each
other with the topology's streams; what only the mesh has is refused).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx

from talklab import _aiortc
from talklab.browser.media import MediaStream, get_user_media
from talklab.events import Event, EventBus
from talklab.janus import JANUS, Janus, JanusUnavailable, McuRoom, Room, SfuRoom, available
from talklab.janus.room import PITCH_TOLERANCE
from talklab.janus.room import Person as JanusPerson
from talklab.lab.load import links_of
from talklab.nat import Host

TOPOLOGIES = {
    "mesh": "a full mesh: a connection between every two people (the seed's)",
    "sfu": "an SFU: each person sends one stream to Janus, which forwards it to every other",
    "mcu": "an MCU: each person sends one stream to Janus and receives one, the mix of the others",
}
PLUGINS = {"sfu": "videoroom", "mcu": "audiobridge"}
ROOMS: dict[str, type[Room]] = {"sfu": SfuRoom, "mcu": McuRoom}
MESH_ONLY = {"nat": None, "relay_only": False, "ice_servers": None, "trickle": True}  # defaults


def topology_of(value: object) -> str:
    """``value`` if it names a topology, else a :class:`ValueError` naming the three."""
    if not isinstance(value, str) or value not in TOPOLOGIES:
        choices = "; ".join(f"{name!r}: {what}" for name, what in TOPOLOGIES.items())
        raise ValueError(f"topology must be one of {', '.join(map(repr, TOPOLOGIES))}, "
                         f"got {value!r} ({choices})")
    return value


class JanusRooms:
    """A lab's rooms on its own Janus, one Janus room per room name, as an SFU or an MCU
    (``Lab(topology="sfu" | "mcu")``: a :class:`talklab.lab.kinds.Rooms`). ``tone(name, taken)``
    (from the lab) chooses a new person's voice."""

    def __init__(self, topology: str, events: EventBus, settings: _aiortc.Settings,
                 tone: Callable[[str, Iterable[float | None]], float]) -> None:
        self.topology = topology_of(topology)
        self.events, self.settings, self._tone = events, settings, tone
        self.janus: Janus | None = None
        self.rooms: dict[str, Room] = {}
        self.people: dict[str, JanusPerson] = {}
        events.subscribe(self._forget_closed)

    def _forget_closed(self, event: Event) -> None:
        """A person who left is no longer part of the lab."""
        if event.kind in ("closed", "janus-left"):
            person = self.people.get(event["person"])
            if person is not None and person.closed:
                del self.people[event["person"]]

    def check(self) -> None:
        """Raise :class:`JanusUnavailable`, with what to install, where Janus cannot run."""
        if not available():
            raise JanusUnavailable(
                "an SFU or MCU room needs the Janus WebRTC server, which is not installed "
                "here: `apt-get install janus` (Debian/Ubuntu; `make test` does it, and Binder "
                "installs it from apt.txt). The mesh needs nothing: Lab(topology=\"mesh\").")

    async def start(self) -> None:
        self.check()
        self.janus = Janus(plugins=(PLUGINS[self.topology],))
        await self.janus.start()
        self.events.publish("janus-started", url=self.janus.url, topology=self.topology)

    async def close(self, because: str) -> None:
        people, self.people = list(self.people.values()), {}
        await asyncio.gather(*(p.close(because) for p in people), return_exceptions=True)
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()
        if self.janus is not None:
            await self.janus.close()
            self.janus = None

    def on(self, event: str, handler: Callable[..., Any] | None) -> None:
        raise ValueError(f"lab.on() gives handlers for the seed's events, which the people of "
                         f"an {self.topology.upper()} room never receive: their signaling goes "
                         "to Janus's own API")

    async def room(self, name: str) -> Room:
        """The Janus room for the lab's room ``name`` (made on first use)."""
        if self.janus is None:
            raise RuntimeError("the lab's Janus is not running")
        if name not in self.rooms:
            room = ROOMS[self.topology](self.janus, name=name, events=self.events,
                                        settings=self.settings)
            await room.start()
            self.rooms[name] = room
        return self.rooms[name]

    async def join(self, name: str, room: str, *, voice: bool, tone_hz: float | None,
                   stream: MediaStream | None, **mesh_only: Any) -> JanusPerson:
        """``lab.join`` in an SFU or MCU lab: the person joins the Janus room ``room``."""
        given = [f"{key}={value!r}" for key, value in mesh_only.items()
                 if value != MESH_ONLY[key]]
        if given:
            raise ValueError(f"{', '.join(given)}: NATs, TURN and trickling are the mesh's; in "
                             f"an {self.topology.upper()} room every person reaches the lab's "
                             "Janus directly on loopback")
        if voice is not True:
            raise ValueError(f"in an {self.topology.upper()} room a person joins with their "
                             f"voice: lab.join({name!r}, voice=True). (Janus's room has no text "
                             "room beside its voice, and the seed's signaling server, which has "
                             "one, is not used here.)")
        target = await self.room(room)
        existing = self.people.get(name)
        if existing is not None:
            if (existing.room == target.name and stream in (None, existing.stream)
                    and tone_hz in (None, existing.tone_hz)):
                return existing
            await existing.close(because="rejoined with new settings")
            self.people.pop(name, None)
            self.events.publish("person-rejoined", person=name, changed=["room or voice"])
        if stream is None:
            tone = tone_hz if tone_hz is not None else self._tone(
                name, (p.tone_hz for p in self.people.values()))
            stream = await get_user_media(audio=True, tone_hz=tone)
        self.events.publish("got-media", person=name,
                            tone_hz=getattr(stream.audio, "tone_hz", None))
        host = Host()  # an address of their own, 127.10.x.y, as in the mesh
        try:
            person = await target.join(name, stream=stream, host=host.address)
        except BaseException:
            host.close()
            raise
        person.cleanups.append(host.close)
        self.people[name] = person
        return person

    # -- waiting -----------------------------------------------------------------------------------
    async def wait_connected(self, timeout: float) -> None:
        """Wait until every stream of every person has carried audio (up: Janus has reported
        receiving it, or someone heard it through Janus; down: a frame arrived). Waits on the
        lab's events and on audio arriving, bounded by ``timeout``."""
        def people() -> list[Any]:
            return [p for p in self.people.values() if p.in_voice]

        def missing() -> dict[str, list[str]]:
            return {p.name: p.missing() for p in people() if p.missing()}

        def failed() -> bool:
            return any(link.pc.connectionState == "failed" for p in people()
                       for link in links_of(p))

        deadline = time.monotonic() + timeout
        while missing() and not failed():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(_not_yet(missing(), f"within {timeout} s"))
            await _more_audio(self.events, people(), remaining)
        if missing():
            raise TimeoutError(_not_yet(missing(), "(a connection with Janus failed)"))

    # -- the room as a graph -----------------------------------------------------------------------
    def graph(self) -> nx.MultiDiGraph:
        """People and Janus as nodes; each RTP stream an edge from sender to receiver (``voice``:
        whose voice, or ``"mix"``; ``kind``: publish, subscribe or mix; ``state``: connected
        once it has carried audio; ``route``)."""
        g = nx.MultiDiGraph(topology=self.topology)
        g.add_node(JANUS, kind="server", role=self.topology, in_voice=False, tone_hz=None,
                   plugin=f"janus.plugin.{PLUGINS[self.topology]}")
        for room_name, room in self.rooms.items():
            for person in list(room.people.values()):
                if person.closed:
                    continue
                g.add_node(person.name, kind="python", role="person", in_voice=True,
                           in_room=True, room=room_name, tone_hz=person.tone_hz,
                           address=person.address)
                routes = {link.label: link.route for link in person.links if not link.closed}
                for edge in person.edges():
                    g.add_edge(edge.source, edge.target, key=f"{edge.voice} → {edge.target}",
                               voice=edge.voice, kind=edge.kind, state=edge.state,
                               route=routes.get("mix" if edge.kind == "mix" else
                                                "publish" if edge.target == JANUS
                                                else f"from {edge.voice}"))
        return g


def _not_yet(missing: dict[str, list[str]], when: str) -> str:
    lines = [f"{name}: {', '.join(streams)}" for name, streams in missing.items()]
    return (f"not every stream carried audio {when}:\n  "
            + "\n  ".join(lines or ["(none is missing any more: it connected as time ran out)"]))


# -- everyone hears everyone, in any topology ------------------------------------------------------
def who_is_missing(people: list[Any], seconds: float) -> list[str]:
    """``"Bob does not hear Alice"`` for every pair in voice in the same room where the
    listener does not hear the speaker's tone (within ``PITCH_TOLERANCE``) in the last
    ``seconds`` of audio, or has not received that much from every stream yet."""
    out = []
    for listener in people:
        heard = listener.hears(seconds)
        ears = [link.ear for link in links_of(listener) if link.ear is not None]
        short = any(ear.frames < int(seconds * 50) for ear in ears)
        for speaker in people:
            if speaker is listener or speaker.room != listener.room or speaker.tone_hz is None:
                continue
            hz = heard.get(speaker.name)
            if short or hz is None or abs(hz - speaker.tone_hz) > PITCH_TOLERANCE:
                out.append(f"{listener.name} does not hear {speaker.name}")
    return out


async def wait_everyone_hears(people: Callable[[], Iterable[Any]], events: EventBus,
                              seconds: float = 1.0,
                              timeout: float = 10.0) -> dict[str, dict[str, float]]:
    """Wait until every person in voice (of ``people()``) hears every other in their room, each
    at their own tone, measured over the last ``seconds`` of audio (in the MCU: found in the
    mix). Returns ``{listener: {speaker: Hz}}``. Waits on audio arriving (and on ``events``),
    bounded by ``timeout``; a :class:`TimeoutError` names who does not hear whom."""
    deadline = time.monotonic() + timeout
    while True:
        now = [p for p in people() if p.in_voice and not p.closed]
        missing = who_is_missing(now, seconds)
        if not missing:
            return {p.name: p.hears(seconds) for p in now}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"not everyone hears everyone within {timeout} s: "
                               + "; ".join(missing[:8])
                               + (f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""))
        await _more_audio(events, now, remaining)


async def _more_audio(events: EventBus, people: list[Any], timeout: float) -> None:
    """Until 200 ms more audio has arrived on every stream, or the lab's room changed."""
    ears = [link.ear for p in people for link in links_of(p) if link.ear is not None]
    changed = asyncio.Event()
    unsubscribe = events.subscribe(lambda _: changed.set())
    waits = [asyncio.ensure_future(ear.wait_frames(ear.frames + 10, timeout)) for ear in ears]
    tasks = [asyncio.ensure_future(changed.wait()),
             *([asyncio.ensure_future(asyncio.wait(waits))] if waits else [])]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        unsubscribe()
        for task in [*tasks, *waits]:
            task.cancel()
        await asyncio.gather(*tasks, *waits, return_exceptions=True)
