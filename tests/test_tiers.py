"""The seed's latency tiers, measured live as notebook 06 measures them ("Feel the routes").

The seed's *Step 8* gives each route a feel: host ~0 ms, the STUN result (srflx) ~20–50 ms, the
TURN relay ~50–150 ms. On loopback everything is instant, so the lab adds what distance adds:
each NAT delays every packet by ``NAT_LATENCY`` in and out (two NATs: 2 × (6 + 6) = 24 ms of a
direct call's round trip), and the TURN server, a far-away one, delays every packet it sends
by ``RELAY_LATENCY`` (each relay candidate of the chosen pair: 25 ms each way). The round-trip
time is aiortc's, from RTCP (``remote-inbound-rtp``), as ``Link.stats()`` reads it. Python's own
processing comes on top; the host call shows how much.
"""

from __future__ import annotations

import asyncio

import pytest

from talklab import Lab

NAT_LATENCY = 0.006  # s, as in notebook 06
RELAY_LATENCY = 0.025
TIERS = {"host": (0.0, 0.020), "srflx": (0.020, 0.050), "relay": (0.050, 0.150)}  # RTT, s


async def rtt_of(lab: Lab, offerer: str, answerer: str, timeout: float = 10) -> float:
    """The offerer's RTT to the answerer, once RTCP has measured it: read after each second of
    audio (an event: frames arriving), for at most ``timeout`` s of audio."""
    link = lab.people[offerer].link_to(answerer)
    for seconds in range(3, int(timeout) + 1):
        await lab.people[answerer].wait_heard(float(seconds), timeout=timeout)
        stats = await link.stats()
        if stats.rtt is not None:
            return stats.rtt
    raise AssertionError(f"{offerer} → {answerer}: no RTT from RTCP after {timeout} s")


@pytest.fixture
async def tiers():
    """One lab, one room per tier, all at once (as in the notebook)."""
    async with Lab(stun=True, turn=True) as lab:
        lab.turn.shape(latency=RELAY_LATENCY)
        calls = {
            "host": ("Hana", "Ivo", None, None),
            "srflx": ("Jo", "Kai", lab.nat("port-restricted", latency=NAT_LATENCY),
                      lab.nat("port-restricted", latency=NAT_LATENCY)),
            "relay": ("Lea", "Max", lab.nat("symmetric", latency=NAT_LATENCY),
                      lab.nat("symmetric", latency=NAT_LATENCY)),
            "loss": ("Noa", "Oli", lab.nat("port-restricted", latency=NAT_LATENCY, loss=0.05),
                     lab.nat("port-restricted", latency=NAT_LATENCY)),
        }
        for room, (offerer, answerer, nat_a, nat_b) in calls.items():
            await lab.join(offerer, room=room, nat=nat_a, voice=True)
            await lab.join(answerer, room=room, nat=nat_b, voice=True)
        await lab.wait_connected(20)
        yield lab, calls


async def test_each_route_has_the_round_trip_of_its_tier(tiers):
    lab, calls = tiers
    names = {room: calls[room][:2] for room in TIERS}
    measured = dict(zip(TIERS, await asyncio.gather(
        *(rtt_of(lab, *names[room]) for room in TIERS)), strict=True))
    for room, (low, high) in TIERS.items():
        offerer, answerer = names[room]
        assert lab.people[offerer].link_to(answerer).route == room
        assert low <= measured[room] <= high, (room, measured)
    assert measured["host"] < measured["srflx"] < measured["relay"]


async def test_five_percent_loss_shows_in_the_stats_both_ways(tiers):
    lab, calls = tiers
    offerer, answerer = calls["loss"][:2]
    await lab.people[answerer].wait_heard(4.0)
    await lab.people[offerer].wait_heard(4.0)
    theirs = await lab.people[answerer].link_to(offerer).stats()  # what the loss NAT sent
    mine = await lab.people[offerer].link_to(answerer).stats()    # what reached it
    for stats in (mine, theirs):
        expected = stats.packets_received + stats.packets_lost
        assert expected > 150 and 0.01 <= stats.packets_lost / expected <= 0.12, stats
    clean = await lab.people[calls["srflx"][1]].link_to(calls["srflx"][0]).stats()
    assert clean.packets_lost == 0
