"""Notebook 08's self-checks and its code exercise, run live with the answer key and the stub."""

from __future__ import annotations

from helpers import answer_key

from talklab import check

answers = answer_key("08")


def test_calls_after_leaving_is_worked_out():
    assert check.calls_after_leaving(6, 2, answer=6)
    wrong = check.calls_after_leaving(6, 2, answer=13)
    assert not wrong and "6" not in wrong.message and "all of theirs" in wrong.message
    assert check.calls_after_leaving(6, 2, answer=6.0).verdict == "wrong type"
    assert "6" in check.reveal(check.calls_after_leaving, 6, 2).message


async def test_the_answer_keys_handler_hangs_up_on_the_one_who_left_only():
    feedback = await check.user_left_voice(answers.handle_user_left_voice)
    assert feedback, feedback.message


async def test_the_stub_and_the_usual_mistakes_are_told_why():
    async def stub(me, data):
        raise NotImplementedError("your code here")

    async def nothing(me, data):
        pass

    async def everyone(me, data):
        for link in list(me.links.values()):
            await link.close()

    async def closes_but_keeps_listed(me, data):
        await me.links[data["socketId"]].close()

    assert "stub" in (await check.user_left_voice(stub)).message
    assert "still keep a call with Bob" in (await check.user_left_voice(nothing)).message
    assert "hung up on" in (await check.user_left_voice(everyone)).message
    assert "still listed" in (await check.user_left_voice(closes_but_keeps_listed)).message


async def test_a_call_forgotten_without_hanging_up_is_not_right():
    """`me.links.pop(sid)` alone was judged right: the connection stayed open, and its task was
    later destroyed pending (stderr in the notebook)."""
    async def forget(me, data):
        me.links.pop(data["socketId"], None)
    said = await check.user_left_voice(forget)
    assert not said and "never closed that link" in said.message

    async def wrong_key(me, data):
        await me.links.pop(data["userId"]).close()
    said = await check.user_left_voice(wrong_key)
    assert not said and "KeyError" in said.message and "print(data)" in said.message


async def test_closing_only_the_peer_connection_is_told_what_else_runs():
    """walk2 07-9: `await link.pc.close()` was told it never hung up, and asked what a browser
    calls to end a connection: what the learner had written."""
    async def pc_only(me, data):
        link = me.links.pop(data["socketId"], None)
        await link.pc.close()
    said = await check.user_left_voice(pc_only)
    assert not said and "or when you close it" in said.message
    assert "What does a browser call" not in said.message


async def test_closing_the_right_connection_but_keeping_it_listed_is_told_so():
    """walk3 07-13: `await me.links[sid].pc.close()` was asked "Which of me.links is his?"."""
    async def pc_close_only(me, data):
        await me.links[data["socketId"]].pc.close()
    said = await check.user_left_voice(pc_close_only)
    assert not said and "RTCPeerConnection has shut down" in said.message
    assert "Which of me.links is his" not in said.message
