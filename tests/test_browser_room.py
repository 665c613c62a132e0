"""The room as one person sees it (``talklab/browser/room.py``): the seed's browser handlers as a
core with no I/O. Events in, actions out: no socket, no connection, no clock."""

from __future__ import annotations

from talklab.browser.room import (
    Accept,
    AddCandidate,
    Answer,
    HangUp,
    Keep,
    Offer,
    Reply,
    RoomView,
    Tell,
)

ROOM = "ABCD12"
ALICE, BOB, DAVE = "aaa", "bbb", "ddd"


def member(sid: str, name: str, in_voice: bool = False) -> dict:
    return {"socketId": sid, "userId": f"user-{name.lower()}", "username": name,
            "inVoice": in_voice}


def alice_in_voice_with_bob() -> RoomView:
    """Alice's view: in ABCD12 with Bob, both in voice (Bob was there first)."""
    view = RoomView()
    view.receive("roomJoined", {"room": ROOM, "socketId": ALICE,
                                "members": [member(ALICE, "Alice"), member(BOB, "Bob", True)]})
    view.receive("voiceJoined", {"room": ROOM, "peers": [member(BOB, "Bob", True)]})
    return view


def test_joining_a_room_and_its_voice_is_known_and_answered():
    view = RoomView()
    actions = view.receive("roomJoined", {"room": ROOM, "socketId": ALICE,
                                          "members": [member(ALICE, "Alice")]})
    assert actions == [Tell("room-joined", {"room": ROOM}),
                       Reply("roomJoined", {"room": ROOM, "socketId": ALICE,
                                            "members": [member(ALICE, "Alice")]})]
    assert view.room == ROOM and view.me == ALICE and view.names() == {ALICE: "Alice"}
    assert not view.in_voice
    actions = view.receive("voiceJoined", {"room": ROOM, "peers": []})
    assert actions[0] == Tell("voice-joined", {"room": ROOM, "peers": []})
    assert isinstance(actions[1], Reply) and view.in_voice


def test_step_3_one_already_in_voice_offers_to_a_newcomer_once():
    view = alice_in_voice_with_bob()
    dave = {"socketId": DAVE, "userId": "user-dave", "username": "Dave", "room": ROOM}
    assert view.receive("userJoinedVoice", dave, calls={BOB}) == [
        Tell("told-of-voice-join", {"newcomer": "Dave"}), Offer(DAVE, "Dave")]
    assert view.voice() == {BOB: "Bob", DAVE: "Dave"}
    # a call already made for Dave: no second offer (glare, or a repeated notice)
    assert Offer(DAVE, "Dave") not in view.receive("userJoinedVoice", dave, calls={BOB, DAVE})


def test_no_offer_to_someone_in_voice_before_us_nor_to_ourselves_nor_out_of_voice():
    view = alice_in_voice_with_bob()
    bob = {"socketId": BOB, "username": "Bob", "room": ROOM}
    assert view.receive("userJoinedVoice", bob) == [Tell("told-of-voice-join",
                                                          {"newcomer": "Bob"})]
    me = {"socketId": ALICE, "username": "Alice", "room": ROOM}
    assert not any(isinstance(a, Offer) for a in view.receive("userJoinedVoice", me))
    view.receive("voiceLeft", {"room": ROOM})
    dave = {"socketId": DAVE, "username": "Dave", "room": ROOM}
    assert not any(isinstance(a, Offer) for a in view.receive("userJoinedVoice", dave))


def test_step_5_an_offer_is_answered_once_in_voice_or_while_joining():
    view = RoomView()
    view.receive("roomJoined", {"room": ROOM, "socketId": DAVE,
                                "members": [member(DAVE, "Dave"), member(ALICE, "Alice", True)]})
    offer = {"offer": {"type": "offer", "sdp": "v=0"}, "from": ALICE}
    assert view.receive("webrtc-offer", offer) == []  # not asked for a seat: ignored
    view.joining = True  # asked, no answer yet: ready for offers, as the seed's browser is
    assert view.receive("webrtc-offer", offer) == [Answer(ALICE, "Alice", offer["offer"])]
    assert view.receive("webrtc-offer", {"offer": "not a dict", "from": ALICE}) == []


def test_steps_7_and_8_go_to_the_call_with_whoever_sent_them():
    view = alice_in_voice_with_bob()
    answer = {"answer": {"type": "answer", "sdp": "v=0"}, "from": BOB}
    assert view.receive("webrtc-answer", answer, calls={BOB}) == [Accept(BOB, answer["answer"])]
    assert view.receive("webrtc-answer", answer, calls=set()) == []  # no call with Bob
    candidate = {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
                 "from": BOB}
    assert view.receive("webrtc-ice-candidate", candidate, calls={BOB}) == [
        AddCandidate(BOB, candidate["candidate"])]
    assert view.receive("webrtc-ice-candidate", {"candidate": 5, "from": BOB},
                        calls={BOB}) == []


def test_someone_leaving_voice_hangs_up_that_call_only_and_becomes_a_newcomer_again():
    view = alice_in_voice_with_bob()
    assert BOB in view.before_me
    assert view.receive("userLeftVoice", {"socketId": BOB, "room": ROOM},
                        calls={BOB, DAVE}) == [HangUp(BOB)]
    assert BOB not in view.before_me and view.voice() == {}
    back = {"socketId": BOB, "username": "Bob", "room": ROOM}
    assert Offer(BOB, "Bob") in view.receive("userJoinedVoice", back, calls={DAVE})


def test_a_refusal_is_kept_told_and_answers_the_request_it_refuses():
    view = RoomView()
    error = {"event": "joinVoice", "message": "join a room first"}
    assert view.receive("signalingError", error) == [
        Keep(error), Tell("signaling-error", error), Reply("signalingError:joinVoice", error)]


def test_a_notice_about_a_room_left_meanwhile_is_dropped_and_changes_nothing():
    view = alice_in_voice_with_bob()
    stranger = {"socketId": "sss", "username": "Stranger", "room": "ELSEWHERE"}
    assert view.receive("userJoinedRoom", stranger) == [
        Tell("stale-notice", {"event": "userJoinedRoom", "room": "ELSEWHERE"})]
    assert "sss" not in view.names()
    seed = {"socketId": "sss", "username": "Stranger"}  # the seed's server names no room
    view.receive("userJoinedRoom", seed)
    assert view.names()["sss"] == "Stranger"


def test_a_handler_of_the_learners_decides_instead_and_the_view_still_learns():
    view = alice_in_voice_with_bob()
    dave = {"socketId": DAVE, "username": "Dave", "room": ROOM}
    assert view.receive("userJoinedVoice", dave, decide=False) == []
    assert view.voice() == {BOB: "Bob", DAVE: "Dave"}


def test_payloads_that_are_not_what_the_event_carries_change_nothing():
    view = alice_in_voice_with_bob()
    for event, data in (("roomJoined", {"room": 5}), ("voiceJoined", {"peers": "x"}),
                        ("userJoinedVoice", {"socketId": 7}), ("userLeftRoom", None),
                        ("webrtc-answer", ["not", "a", "dict"])):
        before = (view.room, dict(view.names()), view.in_voice)
        assert not [a for a in view.receive(event, data, calls={BOB})
                    if not isinstance(a, (Tell, Reply))]
        assert (view.room, dict(view.names()), view.in_voice) == before
