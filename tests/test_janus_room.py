"""SFU (VideoRoom) and MCU (AudioBridge) rooms of three on a real Janus, with aiortc people:
everyone hears everyone (in the MCU, from the one mix), streams are counted, and Janus's
sockets and SDP stay inside 127.0.0.0/8."""

from __future__ import annotations

import numpy as np
import pytest

from talklab.janus import JANUS, Janus, McuRoom, SfuRoom, available
from talklab.janus.loopback import non_loopback_candidates, sdp_candidate_addresses
from talklab.janus.mix import tone_amplitude, voices_in_mix

pytestmark = pytest.mark.skipif(not available(), reason="needs Janus (apt-get install janus)")

NAMES = ("Alice", "Bob", "Carol")


def assert_janus_on_loopback(janus: Janus, people) -> None:
    """Once media flows: every socket Janus holds is inside 127.0.0.0/8, it has media sockets
    at all, and every SDP it sent offers only loopback candidates (and some)."""
    sockets = janus.sockets()
    assert janus.sockets_outside_loopback() == [], [str(s) for s in sockets]
    assert any(s.protocol == "udp" for s in sockets), "no media socket: nothing was checked"
    sdps = [sdp for person in people for sdp in person.janus_sdps()]
    assert sdps
    for sdp in sdps:
        assert sdp_candidate_addresses(sdp), "an SDP from Janus without candidates"
        assert non_loopback_candidates(sdp) == []
        assert "c=IN IP4 127.0.0.1" in sdp


async def test_sfu_room_of_three_everyone_hears_everyone():
    async with Janus(plugins=("videoroom",)) as janus:
        room = SfuRoom(janus)
        await room.start()
        people = [await room.join(name) for name in NAMES]
        await room.wait_everyone_hears(timeout=20)
        tones = room.tones()
        assert len(set(tones.values())) == 3
        for person in people:
            heard = person.hears()
            others = {n: tones[n] for n in NAMES if n != person.name}
            assert set(heard) == set(others)  # each subscribed stream: one voice, by name
            for name, hz in others.items():
                assert heard[name] == pytest.approx(hz, abs=0.5)
            streams = await person.streams()
            assert (streams.upload, streams.download) == (1, len(NAMES) - 1)
            assert person.link_states() == {"publish": "connected",
                                            **{f"from {n}": "connected" for n in others}}
            assert all(link.route == "host" for link in person.links)
        edges = {(e.source, e.target, e.voice) for e in room.edges()}
        assert edges == ({(n, JANUS, n) for n in NAMES}
                         | {(JANUS, a, b) for a in NAMES for b in NAMES if a != b})
        assert_janus_on_loopback(janus, people)

        await room.close()
        assert not room.people and all(link.closed for p in people for link in p.links)
        assert [s for s in janus.sockets() if s.protocol.startswith("udp")] == []


async def test_mcu_room_of_three_everyone_hears_everyone_in_the_mix():
    async with Janus(plugins=("audiobridge",)) as janus:
        room = McuRoom(janus)
        await room.start()
        people = [await room.join(name) for name in NAMES]
        await room.wait_everyone_hears(timeout=20)
        tones = room.tones()
        for person in people:
            heard = person.hears()
            assert set(heard) == set(NAMES) - {person.name}  # found in one stream
            for name, hz in heard.items():
                assert hz == pytest.approx(tones[name], abs=0.5)
            relative = person.relative_levels()
            assert relative[person.name] < 0.05  # one's own voice is not mixed back
            assert all(relative[n] > 0.3 for n in heard)
            streams = await person.streams()
            assert (streams.upload, streams.download) == (1, 1)
            assert person.link_states() == {"mix": "connected"}
        edges = {(e.source, e.target, e.voice) for e in room.edges()}
        assert edges == {(n, JANUS, n) for n in NAMES} | {(JANUS, n, "mix") for n in NAMES}
        assert_janus_on_loopback(janus, people)

        await room.close()
        assert [s for s in janus.sockets() if s.protocol.startswith("udp")] == []


async def test_sfu_someone_leaves_and_the_others_let_go():
    async with Janus(plugins=("videoroom",)) as janus, SfuRoom(janus) as room:
        alice, bob, carol = [await room.join(name) for name in NAMES]
        await room.wait_everyone_hears(timeout=20)
        await carol.leave()
        for person in (alice, bob):
            await person.wait_until(lambda p=person: "from Carol" not in p.link_states(),
                                    timeout=10, what="Carol's stream closed")
            assert set(person.hears()) == {"Alice", "Bob"} - {person.name}
            assert (await person.streams()).download == 1


def test_the_mix_proof_finds_known_tones_and_not_others():
    rate = 48_000
    t = np.arange(rate) / rate
    mix = (0.09 * np.sin(2 * np.pi * 550 * t) + 0.09 * np.sin(2 * np.pi * 660.25 * t)) * 32767
    samples = mix.astype(np.int16)
    assert tone_amplitude(samples, 550) == pytest.approx(0.09, rel=0.02)
    assert tone_amplitude(samples, 440) < 0.001
    heard = voices_in_mix(samples, {"Alice": 440.0, "Bob": 550.0, "Carol": 660.0})
    assert set(heard) == {"Bob", "Carol"}
    assert heard["Carol"] == pytest.approx(660.25, abs=0.02)  # measured, not the known value
