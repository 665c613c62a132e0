"""Notebook 09, the capstone: its two handler exercises and Dave's room, run live with the
answer key, the stubs, and the usual mistakes; a changed network changes what it reports."""

from __future__ import annotations

from helpers import answer_key

from talklab import check

answers = answer_key("09")


async def stub(*args):
    raise NotImplementedError("your code here")


async def nothing(me, data):
    pass


async def test_the_answer_handler_completes_alices_call():
    assert await check.handle_webrtc_answer(answers.handle_webrtc_answer)
    said = await check.handle_webrtc_answer(stub)
    assert not said and "stub" in said.message and "data[\"from\"]" in said.message
    said = await check.handle_webrtc_answer(nothing)
    assert not said and "what does it still need from Bob" in said.message

    async def wrong_key(me, data):
        await me.links[data["to"]].set_remote(data["answer"])  # "to" goes in, "from" comes out
    said = await check.handle_webrtc_answer(wrong_key)
    assert not said and "KeyError" in said.message

    async def a_new_connection(me, data):  # passed before: the browser's would be empty
        link = me.create_peer_connection(data["from"])
        await link.set_remote(data["answer"])
    said = await check.handle_webrtc_answer(a_new_connection)
    assert not said and "already has a connection with Bob" in said.message, said.message
    assert "data[" not in said.message  # toward the reasoning, not the line of code

    async def set_as_local(me, data):  # the answer that arrived, applied as our own
        await me.links[data["from"]].set_local(data["answer"])
    said = await check.handle_webrtc_answer(set_as_local)
    assert not said and "set_local takes a description this connection created" in said.message
    assert "plain dicts" not in said.message  # (it blamed reading the payload, not set_local)

    async def twice(me, data):  # applied twice: the second finds the exchange complete
        await me.links[data["from"]].set_remote(data["answer"])
        await me.links[data["from"]].set_remote(data["answer"])
    said = await check.handle_webrtc_answer(twice)
    assert not said and "wrong state: stable" in said.message, said.message

    async def without_await(me, data):  # a learner's try: the coroutine never runs
        me.links[data["from"]].set_remote(data["answer"])
    said = await check.handle_webrtc_answer(without_await)
    assert not said and "without `await`" in said.message and "set_remote" in said.message


async def test_the_candidate_handler_gets_alice_and_bob_through_their_nats():
    said = await check.handle_webrtc_ice_candidate(answers.handle_webrtc_ice_candidate)
    assert said and "srflx" in said.message, said.message
    said = await check.handle_webrtc_ice_candidate(stub)
    assert not said and "stub" in said.message
    said = await check.handle_webrtc_ice_candidate(nothing)
    assert not said and "Where does each one have to end up?" in said.message
    assert not await check.handle_webrtc_ice_candidate("handle_webrtc_ice_candidate")

    async def to_every_call(me, data):  # a learner's try: every candidate on every connection
        for link in me.links.values():
            await link.add_ice_candidate(data["candidate"])
    said = await check.handle_webrtc_ice_candidate(to_every_call)
    # a browser refuses a candidate on a connection with no remote description yet (Alice's
    # with Charlie, before Charlie's offer); else the check finds it on the wrong call
    assert not said and ("Is it the connection your handler meant" in said.message
                         or "which one connection is it for?" in said.message), said.message
    assert "data[" not in said.message  # a hint toward the reasoning, not the line of code


async def test_daves_room_from_the_answer_key_is_right_and_carries_on_without_the_server():
    room = await check.capstone(answers.build_room, answers.handle_webrtc_answer,
                                answers.handle_webrtc_ice_candidate)
    assert room, room.message
    assert room.route("Alice", "Charlie") == "host"
    assert room.route("Alice", "Bob") == "srflx" and room.route("Bob", "Dave") == "relay"
    assert room.relayed == answers.PREDICTIONS["relayed_calls"] == 3
    assert room.carried_on == answers.PREDICTIONS["calls_after_the_server"] == 6
    assert all(c.heard for c in room.calls) and room.graph.number_of_edges() == 6
    assert "0x" not in repr(room) and "Call(" not in repr(room)  # no raw repr for a learner


async def test_a_changed_network_changes_what_the_capstone_reports():
    async def dave_at_home(lab):  # Dave on an ordinary router: nothing needs TURN any more
        office = lab.nat("port-restricted")
        await lab.join("Alice", nat=office, voice=True)
        await lab.join("Charlie", nat=office, voice=True)
        await lab.join("Bob", nat="port-restricted", voice=True)
        await lab.join("Dave", nat="full-cone", voice=True)
    room = await check.capstone(dave_at_home)  # talklab's own handlers
    assert not room and "no call is relay" in room.message and "notebook 06" in room.message
    assert room.relayed == 0 and room.route("Bob", "Dave") != "relay"
    assert len(room.calls) == 6 and all(c.heard for c in room.calls)


async def test_the_capstone_says_what_is_missing_without_giving_the_room_away():
    said = await check.capstone(stub)
    assert not said and "stub" in said.message and "Dave comes last" in said.message
    assert said.relayed is None and said.calls == ()

    async def three(lab):
        for name in ("Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
    said = await check.capstone(three)
    assert not said and "Alice, Bob, Charlie" in said.message and "Dave" in said.message

    async def dave_first(lab):
        for name in ("Dave", "Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
    assert "bring Dave in last" in (await check.capstone(dave_first)).message

    async def forced(lab):
        for name in ("Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
        await lab.join("Dave", voice=True, relay_only=True)
    assert "relay_only" in (await check.capstone(forced)).message

    said = await check.capstone(answers.build_room, stub, answers.handle_webrtc_ice_candidate)
    assert not said and "still the stub" in said.message and "handle_webrtc_answer" in said.message
    assert not await check.capstone(answers.build_room, "not a function")


def test_a_prediction_has_nothing_to_compare_with_before_the_room_runs():
    said = check.compare(3, None, about="calls through TURN", kind=check.Whole())
    assert said.verdict == "unmeasured" and "nothing to compare with yet" in said.message


async def test_aiortcs_own_add_ice_candidate_on_a_dict_is_told_what_takes_a_dict():
    """`link.pc.addIceCandidate(data["candidate"])`, the browser's call, was told to read the
    payload with data["sdpMid"]: aiortc's own method takes its object, not a dict."""
    async def browser_call(me, data):
        link = me.links.get(data["from"])
        if link is not None:
            await link.pc.addIceCandidate(data["candidate"])
    said = await check.handle_webrtc_ice_candidate(browser_call)
    assert not said and "aiortc's own take its objects" in said.message, said.message
    assert "data[\"sdpMid\"]" not in said.message

    async def whole_message(me, data):
        await me.links[data["from"]].add_ice_candidate(data)
    said = await check.handle_webrtc_ice_candidate(whole_message)
    assert not said and "whole message" in said.message and "removeprefix" not in said.message


async def test_a_room_whose_direct_calls_are_all_prflx_has_no_srflx_call():
    """A room with no NAT for Alice and Bob and symmetric NATs for Charlie and Dave was judged
    right, "4 srflx", while the table said those four were prflx."""
    async def no_stun_result(lab):
        await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        await lab.join("Charlie", nat="symmetric", voice=True)
        await lab.join("Dave", nat="symmetric", voice=True)
    room = await check.capstone(no_stun_result)
    assert not room and "no call is srflx" in room.message and "prflx" in room.message
