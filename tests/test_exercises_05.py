"""Notebook 05 (ICE candidates and priority): its code exercise run live with the answer key's
solution and with the stub, its self-checks judged, and the check list it reads."""

from __future__ import annotations

import pytest
from helpers import answer_key

from talklab import Lab, check
from talklab.ice import candidate_priority, pairs
from talklab.views import pairs_table

answers = answer_key("05")


def stub(type_preference: int, local_preference: int, component: int) -> int:
    raise NotImplementedError


async def test_the_answer_key_matches_aioice_on_every_candidate_of_a_live_call():
    feedback = await check.priority(answers.priority)
    assert feedback, feedback
    assert "host, srflx, relay" in feedback.message


async def test_the_stub_is_not_yet_at_once():
    feedback = await check.priority(stub)
    assert not feedback and "stub" in feedback.message


@pytest.mark.parametrize("wrong, says", [
    (lambda t, lp, c: 2**24 * t + 2**8 * lp + c, "use the component id"),
    (lambda t, lp, c: 2**16 * t + 2**8 * lp + 256 - c, "type preference"),
    (lambda t, lp, c: 2**24 * t + lp + 256 - c, "local preference"),
    (lambda t, lp, c: 2**24 * t + 2**8 * lp, "last term"),
])
async def test_a_wrong_formula_is_told_which_term_is_off_not_the_priorities(wrong, says):
    feedback = await check.priority(wrong)
    assert not feedback and says in feedback.message, feedback.message
    for kind in ("host", "srflx", "relay"):
        assert str(candidate_priority(kind)) not in feedback.message


async def test_a_float_or_an_async_function_is_explained():
    feedback = await check.priority(lambda t, lp, c: 2.0**24 * t + 2**8 * lp + 256 - c)
    assert not feedback and "whole number" in feedback.message

    async def later(t, lp, c):
        return answers.priority(t, lp, c)
    assert await check.priority(later)  # awaited: fine


def test_the_pair_question_judges_hints_and_reveals():
    assert check.pair_rests_on(answer="worse") and check.pair_rests_on(answer=" Worse ")
    wrong = check.pair_rests_on(answer="better")
    assert wrong.verdict == "not yet" and "worse" not in wrong.message.lower()
    assert check.pair_rests_on(answer=0).verdict == "wrong type"
    assert check.pair_rests_on(answer=["worse"]).verdict == "wrong type"
    assert check.pair_rests_on().verdict == "pending"
    assert "worse" in check.reveal(check.pair_rests_on).message


def test_the_component_two_question_is_worked_out():
    right = candidate_priority("srflx", component=2)
    assert check.candidate_priority("srflx", component=2, answer=right)
    wrong = check.candidate_priority("srflx", component=2, answer=candidate_priority("srflx"))
    assert not wrong and str(right) not in wrong.message
    assert check.candidate_priority("srflx", component=2, answer=str(right)).verdict == \
        "wrong type"


async def test_the_check_list_is_on_one_clock_and_the_best_pair_wins():
    """What the notebook reads: host pairs given up after the patience, srflx nominated, and
    every pair's history on the link's clock (so that pairs can be compared in time)."""
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat="restricted", voice=True)
        await lab.join("Bob", nat="restricted", voice=True)
        await lab.wait_connected(15)
        link = alice.link_to("Bob")
        assert link.route == "srflx"
        made = link.timeline[0][0]
        rows = pairs(link.pc, since=made)
        (chosen,) = [r for r in rows if r["nominated"]]
        better = [r for r in rows if r["priority"] > chosen["priority"]]
        assert better and all(r["state"] != "SUCCEEDED" for r in better)
        assert all(r["local"].startswith("host") and r["remote"].startswith("host")
                   for r in better)
        completed = next(t for t, s in link.timeline if s == "ICE completed") - made
        started = min(t for r in better for t, s in r["history"] if s == "IN_PROGRESS")
        assert completed - started >= 0.9  # the patience (1 s) ran out on the host pair
        relay_host = next(r for r in rows if r["local"].startswith("relay ")
                          and r["remote"].startswith("host "))
        assert relay_host["priority"] < chosen["priority"]
        table = pairs_table(link)
        assert "since the link was made" in table.title
        assert all("_" not in r["state"] and r["state"].islower() for r in table.rows)
        # by default, one clock for the whole check list: the earliest change is at 0
        assert min(t for r in pairs(link.pc) for t, _ in r["history"]) == 0


async def test_the_formula_typed_with_a_caret_is_told_that_caret_is_xor():
    """The notebook writes 2^24; typed into Python that is XOR, and the hint spoke only of
    which power of two was given."""
    def priority(type_preference, local_preference, component):
        return 2^24 * type_preference + 2^8 * local_preference + (256 - component)
    said = await check.priority(priority)
    assert not said and "`^` is XOR" in said.message and "**" not in said.message
