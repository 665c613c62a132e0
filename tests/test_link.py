"""One call, as the seed's browser functions make it (``talklab/browser/link.py`` and the person's
``create_peer_connection``): what a learner's handler can do to a connection behaves as a
browser's RTCPeerConnection would, and a refusal never touches a call that is up."""

from __future__ import annotations

import pytest
from aiortc.exceptions import InvalidStateError

from talklab import Lab
from talklab.browser.link import ALLOWED, _allowed
from talklab.browser.person import ConnectionExists

CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0}


@pytest.fixture
async def call():
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected()
        yield lab, alice, bob


async def still_carries_audio(person, name):
    link = person.link_to(name)
    before = link.ear.frames
    await link.ear.wait_frames(before + 10, 5)
    assert link.state == "connected"


async def test_create_peer_connection_refuses_a_second_connection_and_keeps_the_call(call):
    _, alice, bob = call
    with pytest.raises(ConnectionExists) as refused:
        alice.create_peer_connection(bob.sid)
    assert "already has a connection with Bob" in str(refused.value)
    assert "Is this a new call with Bob, or the one already under way?" in str(refused.value)
    await still_carries_audio(alice, "Bob")
    await still_carries_audio(bob, "Alice")


async def test_an_answer_on_a_connection_that_made_no_offer_is_refused_as_a_browser_does(call):
    _, alice, bob = call
    answer = bob.link_to("Alice").pc.localDescription
    with pytest.raises(InvalidStateError) as refused:  # the exchange is complete: stable
        await alice.link_to("Bob").set_remote({"type": answer.type, "sdp": answer.sdp})
    assert "Called in wrong state: stable" in str(refused.value)
    await still_carries_audio(alice, "Bob")
    fresh = alice.create_peer_connection("not-a-socket", "Zed")  # a new, empty connection
    try:
        with pytest.raises(InvalidStateError, match="wrong state: stable"):
            await fresh.set_remote({"type": "answer", "sdp": answer.sdp})
        with pytest.raises(InvalidStateError, match="wrong state: stable"):
            await fresh.set_local(_answer(answer))
    finally:
        alice.links.pop("not-a-socket", None)
        await fresh.close()


def _answer(description):
    from aiortc import RTCSessionDescription
    return RTCSessionDescription(description.sdp, "answer")


async def test_a_candidate_before_any_remote_description_is_refused_and_changes_nothing(call):
    _, alice, _ = call
    fresh = alice.create_peer_connection("not-a-socket", "Zed")
    try:
        with pytest.raises(InvalidStateError) as refused:
            await fresh.add_ice_candidate(CANDIDATE)
        assert "remote description was null" in str(refused.value)
        assert fresh.remote_candidates.received == 0 and not fresh.closed
    finally:
        alice.links.pop("not-a-socket", None)
        await fresh.close()
    await still_carries_audio(alice, "Bob")


async def test_descriptions_and_candidates_of_the_wrong_shape_say_what_they_were(call):
    _, alice, bob = call
    link = alice.link_to("Bob")
    with pytest.raises(TypeError) as wrong:
        await link.set_local({"type": "answer", "sdp": "v=0"})
    assert "set_local" in str(wrong.value) and "set_remote" in str(wrong.value)
    with pytest.raises(TypeError, match=r"keys \['answer', 'from'\]"):
        await link.set_remote({"answer": {"type": "answer", "sdp": "v=0"}, "from": bob.sid})
    with pytest.raises(TypeError, match="the whole message"):
        await link.add_ice_candidate({"candidate": CANDIDATE, "from": bob.sid})
    await still_carries_audio(alice, "Bob")


def test_the_signaling_state_table_is_jseps():
    """RFC 8829, 3.2 (and aiortc's own check): which description may be set in which state."""
    assert ALLOWED[("remote", "answer")] == ("have-local-offer", "have-remote-pranswer")
    assert ALLOWED[("local", "answer")] == ("have-remote-offer", "have-local-pranswer")
    for state in ("stable", "have-local-offer"):
        _allowed(state, "local", "offer", "Bob")
    with pytest.raises(InvalidStateError, match="owes an answer"):
        _allowed("have-remote-offer", "local", "offer", "Bob")
    with pytest.raises(InvalidStateError, match="waiting for the answer"):
        _allowed("have-local-offer", "remote", "offer", "Bob")


async def test_a_connections_own_offer_given_to_set_remote_is_refused(call):
    """03: `link.set_remote(offer)` with the offer this side just created (it belongs in
    set_local) failed inside talklab with "'RTCSessionDescription' object is not
    subscriptable"."""
    _, alice, _ = call
    fresh = alice.create_peer_connection("not-a-socket", "Zed")
    try:
        offer = await fresh.pc.createOffer()
        with pytest.raises(TypeError, match="made by this connection itself"):
            await fresh.set_remote(offer)
        assert fresh.pc.signalingState == "stable"
    finally:
        alice.links.pop("not-a-socket", None)
        await fresh.close()
