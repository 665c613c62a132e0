"""ICE picks the best pair that works, as browsers do: talklab's nomination rule, on its own
(talklab/ice/nomination.py) and live (talklab/_aiortc/nomination.py)."""

from __future__ import annotations

import pytest

from talklab import Lab
from talklab.ice import candidate_priority, pair_priority, pairs
from talklab.ice.nomination import Decision, PairState, choose, host_to_host

HOST_HOST = pair_priority(candidate_priority("host"), candidate_priority("host"))
HOST_SRFLX = pair_priority(candidate_priority("host"), candidate_priority("srflx"))
HOST_RELAY = pair_priority(candidate_priority("host"), candidate_priority("relay"))


def test_nothing_is_nominated_before_a_pair_succeeds():
    assert choose([PairState(HOST_HOST, "IN_PROGRESS", 0.1)], candidates_pending=False,
                  waited=None) == Decision(None)


def test_the_best_pair_is_nominated_at_once_when_nothing_better_can_come():
    rows = [PairState(HOST_SRFLX, "SUCCEEDED"), PairState(HOST_RELAY, "SUCCEEDED"),
            PairState(HOST_HOST, "FAILED")]
    assert choose(rows, candidates_pending=False, waited=0.0) == Decision(0)


def test_a_relay_that_succeeds_first_waits_for_a_direct_pair_still_being_checked():
    rows = [PairState(HOST_SRFLX, "IN_PROGRESS", 0.2), PairState(HOST_RELAY, "SUCCEEDED")]
    decision = choose(rows, candidates_pending=False, waited=0.1, patience=1.0, wait=3.0)
    assert decision.nominate is None and decision.look_again == pytest.approx(0.8)
    rows[0] = PairState(HOST_SRFLX, "SUCCEEDED")  # the hole is punched: direct wins
    assert choose(rows, candidates_pending=False, waited=0.5).nominate == 0


def test_a_better_pair_that_stays_unanswered_is_given_up_after_the_patience():
    rows = [PairState(HOST_HOST, "IN_PROGRESS", 1.0), PairState(HOST_SRFLX, "SUCCEEDED")]
    assert choose(rows, candidates_pending=False, waited=0.9, patience=1.0).nominate == 1


def test_a_pair_not_checked_yet_is_still_hoped_for():
    rows = [PairState(HOST_HOST, "FROZEN"), PairState(HOST_SRFLX, "SUCCEEDED")]
    decision = choose(rows, candidates_pending=False, waited=0.0, patience=1.0)
    assert decision.nominate is None and decision.look_again == pytest.approx(1.0)


def test_candidates_still_coming_hold_all_but_a_host_to_host_pair():
    assert host_to_host(HOST_HOST) and not host_to_host(HOST_SRFLX)
    assert choose([PairState(HOST_HOST, "SUCCEEDED")], candidates_pending=True,
                  waited=0.0).nominate == 0
    assert choose([PairState(HOST_SRFLX, "SUCCEEDED")], candidates_pending=True,
                  waited=0.0).nominate is None


def test_the_wait_bounds_everything():
    rows = [PairState(HOST_HOST, "WAITING"), PairState(HOST_RELAY, "SUCCEEDED")]
    assert choose(rows, candidates_pending=True, waited=3.0, wait=3.0).nominate == 1


@pytest.mark.parametrize("a, b", [("port-restricted", "full-cone"), ("restricted", "restricted")])
async def test_with_turn_configured_a_pair_that_works_directly_is_not_relayed(a, b):
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat=a, voice=True)
        await lab.join("Bob", nat=b, voice=True)
        await lab.wait_connected(10)
        link = alice.link_to("Bob")
        assert link.route in ("srflx", "prflx")
        rows = pairs(link.pc)
        (chosen,) = [r for r in rows if r["nominated"]]
        succeeded = [r["priority"] for r in rows if r["state"] == "SUCCEEDED"]
        assert chosen["priority"] == max(succeeded)  # the best of those that worked
        assert any(r["remote"].startswith("relay") and r["state"] == "SUCCEEDED"
                   for r in rows)  # the relay worked too, and lost on priority
