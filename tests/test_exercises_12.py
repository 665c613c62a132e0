"""Notebook 12's code exercise, run live with the answer key, the stub and the usual mistakes."""

from __future__ import annotations

from helpers import answer_key

import talklab
from talklab import check

answers = answer_key("12")


async def test_the_answer_key_draws_the_live_dashboard_as_talklab_does():
    async with talklab.Classroom(turn=False) as classroom, \
            talklab.Lab(server=classroom.url) as one, talklab.Lab(server=classroom.url) as two:
        await one.join("Ana", voice=True, tone_hz=440)
        await two.join("Ben", voice=True, tone_hz=660)
        await one.wait_connected()
        await classroom.wait_reported(calls=1)
        feedback = await check.link_state(answers.link_state, classroom)
        assert feedback, feedback.message
        assert "Ana–Ben connected" in feedback.message


async def test_the_stub_and_the_usual_mistakes_are_told_why_without_the_answer():
    def stub(a, b):
        raise NotImplementedError("your code here")

    def either(a, b):  # "connected if anyone says so"
        return "connected" if "connected" in (a, b) else (a or b or "unreported")

    def both_or_failed(a, b):  # forgets that a report may not have come yet
        return "connected" if a == b == "connected" else "failed"

    def nothing(a, b):
        return None

    assert "stub" in (await check.link_state(stub)).message
    said = await check.link_state(either)
    assert not said and "gave 'connected'" in said.message and "gave up" in said.message
    said = await check.link_state(both_or_failed)
    assert not said and "only one person has reported" in said.message
    assert "'connecting'" not in said.message  # a hint toward the reasoning, not the answer
    said = await check.link_state(nothing)
    assert not said and "as a string" in said.message
    assert await check.link_state(answers.link_state)


async def test_a_closed_classroom_is_said_so_not_judged_empty():
    classroom = await talklab.Classroom(turn=False).start()
    await classroom.close()
    said = await check.link_state(answers.link_state, classroom)
    assert said and "has closed" in said.message and "()" not in said.message
