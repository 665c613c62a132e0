"""Notebook 02's self-checks and its code exercise, run live with the answer key and the stub."""

from __future__ import annotations

from helpers import answer_key

from talklab import check

answers = answer_key("02")


def test_seats_taken_is_worked_out_not_read():
    assert check.seats_taken(4, 3, answer=2)
    wrong = check.seats_taken(4, 3, answer=3)
    assert not wrong and "2" not in wrong.message and "one step" in wrong.message
    assert check.seats_taken(4, 3, answer="2").verdict == "wrong type"
    assert "2" in check.reveal(check.seats_taken, 4, 3).message


async def test_the_answer_keys_relay_carries_a_real_call():
    feedback = await check.relay_answer(answers.relay_answer)
    assert feedback, feedback.message


def stub(sid, data):
    raise NotImplementedError


def to_the_sender(sid, data):
    return sid, {"answer": data["answer"], "from": sid}


def without_from(sid, data):
    return data["to"], {"answer": data["answer"]}


async def test_the_stub_and_wrong_relays_are_told_why_without_the_answer():
    assert "stub" in (await check.relay_answer(stub)).message
    back = await check.relay_answer(to_the_sender)
    assert not back and "back to Dave" in back.message
    anonymous = await check.relay_answer(without_from)
    assert not anonymous and "from whom" in anonymous.message
    assert not await check.relay_answer(relay_answer_called := answers.relay_answer("a", {
        "answer": {}, "to": "b"})) and relay_answer_called  # a value, not a function


def attribute_access(sid, data):
    return data.to, {"answer": data.answer, "from": sid}


async def test_a_payload_read_as_attributes_is_told_about_dicts_and_wrongs_are_told_at_once():
    """walk2: `data.to` got the raw AttributeError only (03 and 09 say how a payload is read),
    and each wrong relay waited 6 s for a call that could not connect."""
    import time
    started = time.monotonic()
    said = await check.relay_answer(attribute_access)
    assert not said and 'data["' in said.message, said.message
    back = await check.relay_answer(to_the_sender)
    assert not back and time.monotonic() - started < 2 * 5.5  # neither waited for the call
