"""Notebook 03 (offer and answer): its self-checks, its two code exercises run live, and the
trickle experiment's ground: a trickled description leaves before a slow STUN server answers,
a gathered one waits for it, and the call starts that much sooner.
"""

from __future__ import annotations

import time

import pytest
from helpers import answer_key

from talklab import Lab, check
from talklab.browser import sdp
from talklab.check.offer import CHANGES
from talklab.stun import StunServer

answers = answer_key("03")


# (check, parameters, right answer, wrong answer, wrong-typed answer)
CASES = [
    *[(check.line_for, dict(change=c), expected,
       "a=rtpmap" if expected != "a=rtpmap" else "m=audio", 1)
      for c, (expected, _) in CHANGES.items()],
    (check.gather_first_delay, dict(stun_ms=300), 600, 300, "600"),
    (check.gather_first_delay, dict(stun_ms=200), 380, 100, True),
]


@pytest.mark.parametrize("question,params,right,wrong,badly_typed", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_each_self_check_judges_hints_and_reveals(question, params, right, wrong, badly_typed):
    assert question(**params, answer=right)
    feedback = question(**params, answer=wrong)
    assert feedback.verdict == "not yet" and len(feedback.message) > 20
    assert str(right) not in feedback.message, feedback.message
    typed = question(**params, answer=badly_typed)
    assert typed.verdict == "wrong type" and "takes" in typed.message
    assert check.reveal(question, **params).verdict == "answer"


def test_the_notebooks_own_questions_have_the_key_s_answers():
    key = answers.SELF_CHECKS
    assert check.line_for("Alice's NAT maps her socket to another public port", answer=key[
        "check.line_for(\"Alice's NAT maps her socket to another public port\")"])
    assert check.line_for("Alice's browser makes itself a new DTLS certificate", answer=key[
        "check.line_for(\"Alice's browser makes itself a new DTLS certificate\")"])
    assert check.gather_first_delay(300, answer=key["check.gather_first_delay(stun_ms=300)"])


# -- the exercises, live ----------------------------------------------------------------------
async def test_handle_user_joined_voice_from_the_key_is_right():
    feedback = await check.handle_user_joined_voice(answers.handle_user_joined_voice)
    assert feedback.verdict == "right", feedback.message


async def test_handle_webrtc_offer_from_the_key_is_right():
    feedback = await check.handle_webrtc_offer(answers.handle_webrtc_offer)
    assert feedback.verdict == "right", feedback.message


@pytest.mark.parametrize("check_name", ["handle_user_joined_voice", "handle_webrtc_offer"])
async def test_the_stubs_are_not_yet(check_name):
    async def stub(me, data):
        raise NotImplementedError

    feedback = await getattr(check, check_name)(stub)
    assert feedback.verdict == "not yet" and "stub" in feedback.message


async def offer_to_the_username(me, data):  # "to" must be a socket id, not a name
    link = me.create_peer_connection(data["socketId"], data["username"])
    await link.set_local(await link.pc.createOffer())
    await me.emit("webrtc-offer", {"offer": {"type": "offer",
                                             "sdp": link.pc.localDescription.sdp},
                                   "to": data["username"]})


async def no_offer_at_all(me, data):
    me.create_peer_connection(data["socketId"], data["username"])


async def offers_twice(me, data):
    for _ in range(2):
        link = me.create_peer_connection(data["socketId"], data["username"])
        await link.set_local(await link.pc.createOffer())
        await me.emit("webrtc-offer", {"offer": {"type": "offer",
                                                 "sdp": link.pc.localDescription.sdp},
                                       "to": data["socketId"]})


async def a_typo(me, data):
    me.create_peer_conection(data["socketId"])


async def sends_before_setting(me, data):  # walk2 03-3: it connected, and was told right
    link = me.create_peer_connection(data["socketId"], data["username"])
    offer = await link.pc.createOffer()
    await me.emit("webrtc-offer", {"offer": {"type": offer.type, "sdp": offer.sdp},
                                   "to": data["socketId"]})
    await link.set_local(offer)


@pytest.mark.parametrize("mistake,said", [
    (offer_to_the_username, "the server refused"),
    (no_offer_at_all, "no offer from"),
    (offers_twice, "already has a connection with Dave"),  # a browser's second one is empty
    (a_typo, "AttributeError"),
    (sends_before_setting, "before setting it"),
])
async def test_each_usual_mistake_says_what_happened(mistake, said):
    started = time.monotonic()
    feedback = await check.handle_user_joined_voice(mistake)
    assert feedback.verdict == "not yet" and said in feedback.message, feedback.message
    assert time.monotonic() - started < 15


# -- what the trickle experiment stands on ----------------------------------------------------
SRFLX = "STUN answered: srflx candidate found"


async def join_pair(lab, room, trickle):
    alice = await lab.join(f"Alice {room}", room=room, voice=True, trickle=trickle)
    dave = await lab.join(f"Dave {room}", room=room, trickle=trickle)
    click = time.monotonic()
    await dave.join_voice()
    await lab.wait_connected()
    a, d = alice.link_to(dave.name), dave.link_to(alice.name)
    heard = max(a.ear.first_frame_at, d.ear.first_frame_at) - click
    if trickle:  # the STUN server's answer still comes, after the call has started
        await alice.wait_until(lambda: SRFLX in a.steps(), 3, "the srflx candidate")
    when = {step: t - click for link in (a, d) for t, step in link.timeline}
    steps = a.steps()
    await alice.close()
    await dave.close()
    return when, heard, steps


async def test_trickling_leaves_before_a_slow_stun_server_answers_gathering_waits():
    async with Lab(stun=True) as lab:
        lab.stun.shape(latency=0.3)
        when, heard, steps = await join_pair(lab, "T", trickle=True)
        assert when["offer sent"] < 0.3 <= when[SRFLX], when  # it left before STUN answered
        assert steps.index("offer sent") < steps.index(SRFLX)
        gathered, heard_late, _ = await join_pair(lab, "G", trickle=False)
        assert gathered["offer sent (with all candidates)"] >= 0.3, gathered
        assert gathered["answer sent (with all candidates)"] >= 0.6, gathered  # two waits
        assert heard_late - heard > 0.3, (heard, heard_late)  # (0.6 saved, less the noise)


async def test_a_closed_link_stops_asking_the_stun_server():
    async with Lab(stun=True) as lab:
        lab.stun.shape(latency=2.0)  # the answer will never come in time
        alice = await lab.join("Alice", voice=True)
        dave = await lab.join("Dave", voice=True)
        await lab.wait_connected()
        link = alice.link_to("Dave")
        assert link._trickling is not None and not link._trickling.done()
        await dave.close()
        await alice.close()
        assert link._trickling.done()  # cancelled with the link: no retransmission after


def test_a_stun_server_is_shaped_within_range():
    server = StunServer()
    server.shape(latency=0.25)
    assert server.latency == 0.25
    for bad in (-0.1, 11, "fast", True):
        with pytest.raises(ValueError, match="latency must be from 0 to 10"):
            server.shape(latency=bad)


async def test_a_real_offer_is_explained_line_by_line():
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected()
        offer = alice.link_to("Bob").pc.localDescription.sdp
    rows = sdp.explain(offer)
    assert len(rows) == len([line for line in offer.splitlines() if line])
    assert all(r["meaning"] != "(another attribute)" for r in rows), rows
    assert all(len(r["line"]) <= 60 for r in rows)
    travels = {r["line"].split(":")[0]: r["travels"] for r in rows}
    assert travels["a=candidate"] == "trickled" and travels["a=setup"] == "in the SDP"


async def test_the_browsers_own_setlocaldescription_works_on_the_persons_own_address():
    """`link.pc.setLocalDescription(offer)` (the seed's browser call, instead of talklab's
    `link.set_local`) gathered on this machine's network interfaces, outside loopback, and was
    then told to use set_local: a lab person's ICE agent now gathers as its person, whoever
    asks it to (tests/conftest.py fails any socket outside loopback)."""
    async def browser_call(me, data):
        link = me.create_peer_connection(data["socketId"], data["username"])
        await link.pc.setLocalDescription(await link.pc.createOffer())
        local = link.pc.localDescription
        await me.emit("webrtc-offer", {"offer": {"type": local.type, "sdp": local.sdp},
                                       "to": data["socketId"]})
    said = await check.handle_user_joined_voice(browser_call)
    assert said, said.message


async def test_an_answer_sent_before_it_is_set_is_not_yet():
    async def answers_before_setting(me, data):
        link = me.create_peer_connection(data["from"], "?")
        await link.set_remote(data["offer"])
        answer = await link.pc.createAnswer()
        await me.emit("webrtc-answer", {"answer": {"type": answer.type, "sdp": answer.sdp},
                                        "to": data["from"]})
        await link.set_local(answer)

    feedback = await check.handle_webrtc_offer(answers_before_setting)
    assert feedback.verdict == "not yet" and "Dave sent their answer" in feedback.message


async def test_an_offer_never_set_is_told_the_step_is_missing():
    """walk3 03-10: with no set_local at all, the hint spoke of an order to change."""
    async def never_sets(me, data):
        link = me.create_peer_connection(data["socketId"], data["username"])
        offer = await link.pc.createOffer()
        await me.emit("webrtc-offer", {"offer": {"type": offer.type, "sdp": offer.sdp},
                                       "to": data["socketId"]})

    feedback = await check.handle_user_joined_voice(never_sets)
    assert feedback.verdict == "not yet" and "without ever setting it" in feedback.message
    assert "may still connect" not in feedback.message
