"""The same lab, three topologies: ``Lab(topology="mesh" | "sfu" | "mcu")``.

In each, a room of three people all hear each other, every tone checked (in the MCU, found in
the one mix each person receives), and the streams each person uploads and downloads, counted
from the RTP packets that really moved during a measuring window, are the topology's: n − 1
and n − 1 in the mesh, 1 and n − 1 in an SFU, 1 and 1 in an MCU."""

from __future__ import annotations

import pytest
from test_janus_server import gone

from talklab import Lab
from talklab.janus import JANUS, available
from talklab.lab.janus_rooms import TOPOLOGIES
from talklab.lab.load import links_of, measure
from talklab.views import streams_drawing

NAMES = ("Alice", "Bob", "Carol")
N = len(NAMES)
STREAMS = {"mesh": (N - 1, N - 1), "sfu": (1, N - 1), "mcu": (1, 1)}  # (upload, download)
needs_janus = pytest.mark.skipif(not available(), reason="needs Janus (apt-get install janus)")
ALL = [pytest.param("mesh"), pytest.param("sfu", marks=needs_janus),
       pytest.param("mcu", marks=needs_janus)]


@pytest.mark.parametrize("topology", ALL)
async def test_a_room_of_three_all_hear_each_other_with_the_topologys_streams(topology):
    async with Lab(topology=topology) as lab:
        people = [await lab.join(name, voice=True) for name in NAMES]
        await lab.wait_connected(20)
        heard = await lab.wait_heard(timeout=20)
        tones = {p.name: p.tone_hz for p in people}
        assert len(set(tones.values())) == N
        for listener in NAMES:
            others = set(NAMES) - {listener}
            assert set(heard[listener]) == others
            for speaker in others:
                assert heard[listener][speaker] == pytest.approx(tones[speaker], abs=0.5)
        if topology == "mcu":  # everything a person hears comes down one stream: the mix
            for person in people:
                ears = [link for link in links_of(person) if link.ear is not None]
                assert [link.kind for link in ears] == ["mix"]
                assert set(person.hears()) == set(NAMES) - {person.name}

        load = await measure(lab, 1.0)
        assert load.topology == topology and load.people == N
        counts = {p.name: (p.upload_streams, p.download_streams) for p in load.per_person}
        assert counts == dict.fromkeys(NAMES, STREAMS[topology])
        assert all(p.upload_kbps > 0 and p.download_kbps > 0 for p in load.per_person)
        assert all(p.encodes_per_s > 0 for p in load.per_person)  # one encoder per person
        assert (load.server_cpu_percent is None) == (topology == "mesh")

        graph = lab.graph()
        if topology == "mesh":
            assert graph.number_of_edges() == N * (N - 1) // 2
        else:
            up = {(a, b) for a, b, d in graph.edges(data=True) if b == JANUS}
            down = [(a, b, d["voice"]) for a, b, d in graph.edges(data=True) if a == JANUS]
            assert up == {(name, JANUS) for name in NAMES}
            assert len(down) == N * STREAMS[topology][1]
            assert all(d["state"] == "connected" for _, _, d in graph.edges(data=True))
        svg = streams_drawing(graph).svg  # the drawing: every name, Janus when there is one
        assert all(name in svg for name in NAMES) and ("Janus" in svg) == (topology != "mesh")
        janus = lab.janus
        pid = janus.pid if janus is not None else None
    if pid is not None:  # the lab's Janus goes with the lab
        assert gone(pid) and lab.janus is None


@needs_janus
async def test_a_server_room_refuses_what_only_the_mesh_has_and_changes_nothing():
    async with Lab(topology="sfu") as lab:
        with pytest.raises(ValueError, match="mesh's"):
            await lab.join("Alice", voice=True, nat="symmetric")
        with pytest.raises(ValueError, match="voice=True"):
            await lab.join("Alice")
        with pytest.raises(ValueError, match="Janus's own API"):
            lab.on("webrtc-offer", lambda person, data: None)
        assert lab.people == {} and lab.nats == []
        assert lab.janus is not None and lab.janus.running


def test_an_unknown_topology_is_refused_naming_the_three():
    with pytest.raises(ValueError, match="'mesh', 'sfu', 'mcu'"):
        Lab(topology="star")
    assert set(TOPOLOGIES) == {"mesh", "sfu", "mcu"}
