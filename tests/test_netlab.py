"""The network lab: real Linux NATs in network namespaces, against talklab's NAT simulator.

These need root (``ip netns``) and the iproute2 and nftables packages (``make netlab-deps``,
which ``make test`` runs). Each test builds a network of its own, with a fresh name prefix, and
checks that nothing of it is left afterwards, even when the test body fails.
"""

from __future__ import annotations

import pytest

from talklab.netlab import Design, NetLab, compare, not_permitted, shell


@pytest.fixture(scope="module")
def namespaces_allowed() -> None:
    reason = not_permitted()
    if reason is not None:
        pytest.skip(reason)


def ours(prefix: str) -> list[str]:
    return [name for name in shell.namespaces() if name.startswith(prefix)]


async def test_real_nats_and_the_simulator_give_the_same_routes(namespaces_allowed):
    """Three NAT kinds, every ordered pair, STUN only and with TURN: the route ICE chose behind
    real netfilter is the route it chose behind talklab's simulator, and RFC 5780's detection
    names the kind each real NAT was built as."""
    kinds = ("full-cone", "port-restricted", "symmetric")
    report = await compare.run(kinds, turn=True)
    assert report.differences() == [], report.render()
    direct, relayed = report.direct, report.relayed
    assert relayed is not None
    route = {pair: cell.real[0].route if cell.real[0].connected else "fail"
             for pair, cell in direct.items()}
    assert route[("full-cone", "full-cone")] == "srflx"
    assert route[("port-restricted", "symmetric")] == "fail"  # the seed's case for TURN
    assert route[("symmetric", "symmetric")] == "fail"
    with_turn = {pair: cell.real[0].route for pair, cell in relayed.items()}
    assert with_turn[("port-restricted", "symmetric")] == "relay"
    assert with_turn[("full-cone", "full-cone")] == "srflx"  # offered TURN, used srflx
    for row in report.detected.values():
        assert row["real"] == row["expected"] == row["simulated"], row
    assert not [name for name in shell.namespaces() if name.startswith("tl")
                and not name.endswith("-probe")], "namespaces left behind"


async def test_a_failing_test_body_still_tears_everything_down(namespaces_allowed):
    design = Design()
    design.server("stun")
    design.home("home", nat="symmetric")
    lab = NetLab(design.network())
    with pytest.raises(RuntimeError, match="on purpose"):
        async with lab:
            assert len(ours(lab.prefix)) == len(design.network().nodes())
            agent = await lab.agent("home")
            assert agent.name == "home"
            raise RuntimeError("a test fails here, on purpose")
    assert ours(lab.prefix) == []


async def test_an_unknown_nat_kind_is_refused_before_anything_is_built():
    before = shell.namespaces()
    with pytest.raises(ValueError, match="unknown NAT kind"):
        await compare.run(["carrier-grade"])
    assert shell.namespaces() == before
