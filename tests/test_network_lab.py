"""Step 8 live: STUN, TURN and NATs with real aiortc people, and what ICE chose."""

from __future__ import annotations

import pytest

from talklab import Lab
from talklab.ice import (
    TYPE_PREFERENCE,
    breakdown,
    candidate_priority,
    candidates,
    pair_priority,
    pairs,
)
from talklab.lab.matrix import nat_matrix

TYPES = ("full-cone", "restricted", "port-restricted", "symmetric")


def test_priority_formulas():
    assert TYPE_PREFERENCE == {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}
    host = candidate_priority("host")
    assert host == 126 * 2**24 + 65535 * 2**8 + 255 == 2130706431
    assert candidate_priority("srflx") == 1694498815 and candidate_priority("relay") == 16777215
    assert breakdown(host) == {"type_preference": 126, "type": "host",
                               "local_preference": 65535, "component": 1}
    g, d = candidate_priority("host"), candidate_priority("srflx")
    assert pair_priority(g, d) == 2**32 * d + 2 * g + 1
    assert pair_priority(d, g) == 2**32 * d + 2 * g
    with pytest.raises(ValueError):
        candidate_priority("magic")


async def test_the_textbook_matrix_is_the_same_every_run_and_turn_only_adds_relays():
    direct = await nat_matrix(TYPES)
    for (a, b), cell in direct.items():
        fails = {a, b} == {"symmetric"} or {a, b} == {"symmetric", "port-restricted"}
        assert cell.connected is not fails, cell
        if "full-cone" in (a, b):
            assert cell.route in ("srflx", "prflx"), cell  # full-cone: STUN alone suffices
    assert direct[("port-restricted", "port-restricted")].route == "srflx"

    runs = [await nat_matrix(TYPES, turn=True) for _ in range(3)]
    verdicts = [{k: (c.connected, c.route) for k, c in run.items()} for run in runs]
    assert verdicts[0] == verdicts[1] == verdicts[2], verdicts
    for key, cell in runs[0].items():
        assert cell.connected, cell
        if direct[key].connected:  # TURN changes nothing for a pair that works without it
            assert cell.route == direct[key].route, (cell, direct[key])
        else:
            assert cell.route == "relay", cell


async def test_people_on_one_lan_connect_host_to_host():
    async with Lab(stun=True) as lab:
        office = lab.nat("symmetric")
        alice = await lab.join("Alice", nat=office, voice=True)
        await lab.join("Bob", nat=office, voice=True)
        await lab.wait_connected(10)
        assert alice.link_to("Bob").route == "host"
        await alice.wait_heard(1.0)  # a second of audio, none of it through the NAT: the
        assert office.counters.packets_in < 10  # NAT saw at most a few checks and STUN


async def test_tables_show_real_priorities_and_the_nominated_pair():
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat="port-restricted", voice=True)
        await lab.join("Bob", nat="full-cone", voice=True)
        await lab.wait_connected(10)
        pc = alice.link_to("Bob").pc
        local = {r["type"]: r for r in candidates(pc) if r["side"] == "local"}
        assert {t: local[t]["type_preference"] for t in local} == {
            "host": 126, "srflx": 100, "relay": 0}
        assert local["srflx"]["related"].startswith(alice.address)
        assert local["srflx"]["address"].startswith("127.20.")
        rows = pairs(pc)
        (chosen,) = [r for r in rows if r["nominated"]]
        assert chosen["state"] == "SUCCEEDED" and chosen["history"][-1][1] == "SUCCEEDED"
        assert all(r["priority"] > 0 for r in rows)


async def test_relay_only_person_connects_through_turn():
    async with Lab(turn=True) as lab:
        alice = await lab.join("Alice", voice=True)
        carol = await lab.join("Carol", relay_only=True, voice=True)
        await lab.wait_connected(10)
        assert carol.link_to("Alice").route == "relay"
        assert {r["type"] for r in candidates(carol.link_to("Alice").pc)
                if r["side"] == "local"} == {"relay"}
        await carol.wait_heard(0.5)
        assert carol.hears()["Alice"] == pytest.approx(alice.tone_hz, abs=2)
        assert lab.turn.counters.bytes_relayed > 0


async def test_the_nat_drops_what_its_filter_forbids():
    async with Lab(stun=True) as lab:
        a = await lab.join("A", nat="symmetric", voice=True)
        b = await lab.join("B", nat="port-restricted", voice=True)
        await a.wait_until(lambda: any(link.pc.connectionState == "failed"
                                       for link in a.links.values()), 15, "ICE failure")
        nat_b = b.host.nat
        assert nat_b.counters.dropped_by_filter > 0


async def test_behind_a_udp_blocking_firewall_only_turn_over_tcp_gets_through():
    async with Lab(stun=True) as lab:  # no TURN: nothing works
        a = await lab.join("A", nat="udp-blocked", voice=True)
        await lab.join("B", voice=True)
        await a.wait_until(lambda: any(link.pc.connectionState == "failed"
                                       for link in a.links.values()), 15, "ICE failure")
    async with Lab(stun=True, turn=True) as lab:
        a = await lab.join("A", nat="udp-blocked", voice=True)
        await lab.join("B", voice=True)
        assert a.ice_servers[-1].urls.endswith("?transport=tcp")
        await lab.wait_connected(15)
        assert a.link_to("B").route == "relay"
        assert any(key[1] == "tcp" for key in lab.turn.core.allocations)
        assert a.host.nat.counters.dropped_by_filter > 0


async def test_audio_still_arrives_over_a_slow_jittery_lossy_path():
    async with Lab(stun=True) as lab:
        slow = lab.nat("full-cone", latency=0.05, jitter=0.01, loss=0.02)
        a = await lab.join("A", nat=slow, voice=True)
        b = await lab.join("B", nat="full-cone", voice=True)
        await lab.wait_connected(15)
        await a.wait_heard(0.5)
        assert a.hears()["B"] == pytest.approx(b.tone_hz, abs=2)
