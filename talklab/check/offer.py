"""Notebook 03's self-checks and code exercises: offers, answers, and when candidates leave.

* :func:`line_for`: which line of an offer a change would show in;
* :func:`gather_first_delay`: what gathering first costs when the STUN server is far away;
* :func:`handle_user_joined_voice`: the exercise. You write the seed's
  ``handleUserJoinedVoice`` (Step 3) as a Python handler; the check gives it to Alice, Bob and
  Charlie in a live lab (``person.on("userJoinedVoice", ...)``), lets Dave join voice, and
  judges what happened: one offer from each reached Dave, and every call carried audio both
  ways;
* :func:`handle_webrtc_offer`: the second exercise, the seed's ``handleWebRTCOffer`` (Step 5),
  given to Dave.

Tested in tests/test_exercises_03.py (notebook 03's self-checks and its two exercises run live).
"""

from __future__ import annotations

from typing import Any

from talklab.check.exercise import LiveRoom, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Number, OneOf, Spec, question

__all__ = ["gather_first_delay", "handle_user_joined_voice", "handle_webrtc_offer", "line_for"]

CHANGES = {
    "Alice's browser makes itself a new DTLS certificate": (
        "a=fingerprint", "the fingerprint is the certificate's hash: the other side checks the "
        "DTLS handshake against it, so a new certificate means a new fingerprint."),
    "Alice's NAT maps her socket to another public port": (
        "a=candidate", "the public address and port are a server-reflexive candidate; only "
        "the candidate that carries them changes (and it is trickled, not in the offer)."),
    "Dave, not Alice, is to start the DTLS handshake": (
        "a=setup", "a=setup says who starts DTLS: actpass (either) in an offer, active or "
        "passive in the answer."),
    "the ICE checks are to be signed with a new password": (
        "a=ice-pwd", "checks carry MESSAGE-INTEGRITY made with the other side's ice-pwd: a "
        "new password is a new a=ice-pwd line (and usually a new a=ice-ufrag)."),
}
LINES = ["m=audio", "a=rtpmap", "a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "a=setup",
         "a=candidate", "a=mid"]


@question(OneOf(LINES))
def line_for(change: str) -> Spec:
    """Which line of what Alice sends (her offer, or a candidate she trickles after it) would
    show ``change``? (a line's start, such as ``"a=rtpmap"``)"""
    if change not in CHANGES:
        raise ValueError(f"change is one of: {'; '.join(CHANGES)}")
    expected, why = CHANGES[change]
    return Spec(expected, why, "go down the table of the offer's lines above and ask of each: "
                "is this what the change is about (the media, the codec, ICE's credentials, "
                "DTLS's certificate or roles, or a route)?")


@question(Number(tolerance=60))
def gather_first_delay(stun_ms: float) -> Spec:
    """With a STUN server that answers ``stun_ms`` after each request, how many ms later does
    audio start when both sides gather every candidate before sending their description, than
    when they trickle? (within 60 ms)"""
    expected = 2 * stun_ms

    def hint(given: Any) -> str:
        if abs(given - stun_ms) <= 60:
            return ("that is one wait for STUN. Who gathers before sending: only the one who "
                    "offers, or the one who answers too?")
        return ("list what each side does before its description can leave when gathering "
                "first, and what trickling lets leave at once; count the waits for STUN on "
                "the way to the first check.")
    return Spec(expected, f"the offer waits for one STUN answer ({stun_ms:g} ms) and the answer "
                f"for another: 2 × {stun_ms:g} = {expected:g} ms, while trickling the host "
                "candidates go at once and ICE checks them meanwhile.", hint)


# -- the exercises -------------------------------------------------------------------------------
OFFERERS = ("Alice", "Bob", "Charlie")
WAIT = 5.0  # s for the calls to carry audio once Dave has joined (they need about 0.2 s)


class _Room(LiveRoom):
    """A live room of four for one exercise: Alice, Bob and Charlie, and Dave."""

    dave: Any = None

    def unheard(self, people: list[Any] | None = None) -> list[str]:
        return super().unheard([*self.people, self.dave] if people is None else people)


async def _room(lab: Any) -> _Room:
    room = _Room(lab)
    room.people = [await lab.join(name, voice=True) for name in OFFERERS]
    await lab.wait_connected()
    room.dave = await lab.join("Dave")
    return room


async def _heard(room: _Room) -> list[str]:
    for person in [*room.people, room.dave]:
        await person.wait_heard(0.5)
    return room.unheard()


async def handle_user_joined_voice(function: Any) -> Feedback:
    """Your ``handle_user_joined_voice(me, data)``, run by Alice, Bob and Charlie when Dave
    joins voice: right when Dave receives exactly one offer from each and all three calls carry
    audio both ways."""
    return await run(function, _offers_live, name="handle_user_joined_voice", timeout=30)


async def _offers_live(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        room = await _room(lab)
        for person in room.people:
            person.on("userJoinedVoice", function)
        await room.dave.join_voice()
        connected = await room.settle(WAIT)
        problem = room.problem("The seed's handler does three things: a connection for "
                               "data[\"socketId\"], an offer set as its local description, "
                               "and one webrtc-offer to that socket id.")
        if problem:
            return Feedback(NOT_YET, problem)
        unset = room.unset_description(
            "The call may still connect here, but in which order does the seed's handler do "
            "it, and what would a browser say to an answer that came back to a connection "
            "whose offer was not set yet?")
        if unset:
            return Feedback(NOT_YET, unset)
        offers = room.relayed("webrtc-offer", room.dave)
        for name in OFFERERS:
            if offers[name] == 0:
                return Feedback(NOT_YET, f"Dave received no offer from {name}: does your "
                                "handler send one, with `await me.emit(\"webrtc-offer\", "
                                "{...})`, to the newcomer's socket id (data[\"socketId\"])?")
            if offers[name] > 1:
                return Feedback(NOT_YET, f"Dave received {offers[name]} offers from {name}; "
                                "each person makes one connection to the newcomer, so one "
                                "offer.")
        if not connected:
            return Feedback(NOT_YET, "Dave received one offer from each, but not every call "
                            f"carried audio within {WAIT:g} s. Is the offer you send the one "
                            "you set with `await link.set_local(offer)` (its type and sdp), on "
                            "the link you made with me.create_peer_connection(...)?")
        missing = await _heard(room)
    if missing:
        return Feedback(NOT_YET, "the calls connected, but " + "; ".join(missing) + ".")
    return Feedback(RIGHT, "Dave received one offer from each of Alice, Bob and Charlie, "
                    "answered each, and all three calls carry audio both ways: your "
                    "handleUserJoinedVoice ran Step 3 in three browsers.")


async def handle_webrtc_offer(function: Any) -> Feedback:
    """Your ``handle_webrtc_offer(me, data)``, run by Dave for each offer: right when each of
    Alice, Bob and Charlie receives exactly one answer and all three calls carry audio both
    ways."""
    return await run(function, _answers_live, name="handle_webrtc_offer", timeout=30)


async def _answers_live(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        room = await _room(lab)
        room.dave.on("webrtc-offer", function)
        await room.dave.join_voice()
        connected = await room.settle(WAIT)
        problem = room.problem("The seed's handler: a connection for data[\"from\"], their "
                               "offer applied, an answer set as the local description, and "
                               "one webrtc-answer back to data[\"from\"].")
        if problem:
            return Feedback(NOT_YET, problem)
        unset = room.unset_description(
            "In which order does the seed's handler do it? Until the answer is set, this "
            "side's ICE agent is not ready for the checks the other side starts as soon as "
            "the answer arrives.")
        if unset:
            return Feedback(NOT_YET, unset)
        for person in room.people:
            answers = room.relayed("webrtc-answer", person)
            if answers["Dave"] != 1:
                return Feedback(NOT_YET, f"{person.name} received {answers['Dave']} answers "
                                "from Dave; one offer deserves one answer, sent with `await "
                                "me.emit(\"webrtc-answer\", {...})` to whoever offered "
                                "(data[\"from\"]).")
        if not connected:
            return Feedback(NOT_YET, "each offerer received one answer, but not every call "
                            f"carried audio within {WAIT:g} s. Did you apply the offer "
                            "(`await link.set_remote(data[\"offer\"])`) before creating the "
                            "answer, and send the answer you set with link.set_local(...)?")
        missing = await _heard(room)
    if missing:
        return Feedback(NOT_YET, "the calls connected, but " + "; ".join(missing) + ".")
    return Feedback(RIGHT, "Alice, Bob and Charlie each received one answer from Dave, and all "
                    "three calls carry audio both ways: your handleWebRTCOffer ran Step 5.")
