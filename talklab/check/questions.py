"""Self-check questions that ask the learner to work something out (see :mod:`.feedback`).

Each is ``check.<name>(..., answer=...)``; ``check.reveal(check.<name>, ...)`` shows the
answer. A hint leads to the reasoning and never names the expected value.

Tested in tests/test_check.py (each question judges a right, a wrong and a wrong-typed answer,
and reveals only when asked) and the notebooks' own tests/test_exercises_00.py to
tests/test_exercises_05.py.
"""

from __future__ import annotations

from typing import Any

from talklab.check.feedback import OneOf, Spec, Whole, YesNo, question
from talklab.ice.priority import TYPE_PREFERENCE
from talklab.ice.priority import candidate_priority as _priority
from talklab.nat.behaviour import NAT_TYPES

ERRORS = {"no microphone": "NotFoundError", "permission denied": "NotAllowedError",
          "impossible constraint": "OverconstrainedError"}


@question(Whole())
def mesh_links(n: int) -> Spec:
    """How many peer connections does a full mesh of ``n`` people need?"""
    expected = n * (n - 1) // 2

    def hint(given: Any) -> str:
        if given == n * (n - 1):
            return ("you counted every connection from both of its ends: Alice–Bob and "
                    "Bob–Alice are one RTCPeerConnection pair, one call.")
        if given == n - 1:
            return "that is one person's connections; the room has a call for every pair."
        return (f"each of the {n} people has a call with each of the others; count those, "
                "and remember that every call has two ends.")
    return Spec(expected, f"{n} people make n(n−1)/2 = {expected} pairs, one call each.", hint)


@question(Whole())
def offers_to_newcomer(in_voice: int) -> Spec:
    """When someone joins a voice channel that already holds ``in_voice`` people, how many
    offers does the newcomer receive?"""
    return Spec(in_voice, f"each of the {in_voice} already in voice sends one (Step 3); the "
                "newcomer only answers (Step 5).",
                "who reacts to userJoinedVoice in the seed, the newcomer or those already "
                "there? Each of them makes one connection to the newcomer.")


@question(Whole())
def relayed_messages(in_voice: int, candidates: int) -> Spec:
    """Someone joins a voice channel of ``in_voice`` people; on every call each side trickles
    ``candidates`` candidates and then its end-of-candidates marker. How many messages does the
    signaling server relay for those calls (each counted once, not once in and once out)?"""
    per_call = 2 + 2 * (candidates + 1)
    expected = in_voice * per_call

    def hint(given: Any) -> str:
        if given == 2 * expected:
            return ("you counted each message twice, going in and coming out; count each "
                    "relayed message once.")
        if given == per_call:
            return "that is one call; how many calls does the newcomer make?"
        if given == in_voice * (2 + 2 * candidates):
            return "close: each side also ends its candidates with an empty one."
        return ("count one call first: its descriptions (one each way) and each side's "
                "candidates, with the empty one that ends them. Then count the calls.")
    return Spec(expected, f"per call: an offer, an answer, and {candidates} + 1 candidates from "
                f"each side = {per_call}; {in_voice} calls: {expected}. The server relays all "
                "of them and carries no audio.", hint)


@question(Whole())
def samples_per_frame(rate: int = 48_000, ms: float = 20) -> Spec:
    """How many samples does one ``ms`` frame hold at ``rate`` Hz (one channel)?"""
    expected = int(rate * ms / 1000)
    return Spec(expected, f"{rate} samples a second × {ms / 1000} s = {expected}.",
                lambda given: "samples = samples per second × seconds; a frame is milliseconds "
                "long, so convert to seconds first." if given != rate * ms else
                "you multiplied by milliseconds; the rate is per second.")


@question(OneOf(sorted(set(ERRORS.values()))))
def error_for(situation: str) -> Spec:
    """Which error does getUserMedia raise in ``situation``? (a name, or the error class)"""
    if situation not in ERRORS:
        raise ValueError(f"situation is one of {sorted(ERRORS)}")
    return Spec(ERRORS[situation], {
        "no microphone": "NotFoundError: no device of the kind asked for exists.",
        "permission denied": "NotAllowedError: a device exists, but the user (or a policy) "
                             "said no.",
        "impossible constraint": "OverconstrainedError: devices exist, none can meet a "
                                 "required constraint."}[situation],
        "is the problem that nothing is there, that someone said no, or that what is there "
        "cannot do what was asked? Each has its own error.")


@question(OneOf(["opus", "pcmu", "pcma", "g722", "isac", "telephone-event"]))
def sdp_codec(sdp: str) -> Spec:
    """Which codec does the first ``a=rtpmap`` line of ``sdp`` name? (lower-case)"""
    first = next((line for line in sdp.splitlines() if line.startswith("a=rtpmap:")), None)
    if first is None:
        raise ValueError("this SDP has no a=rtpmap line")
    name = first.split()[1].split("/")[0].lower()
    return Spec(name, f"{first!r}: after the payload type come codec/clock rate/channels.",
                "find the first line starting with a=rtpmap: and read what follows the "
                "payload type number, up to the first slash.")


@question(YesNo())
def relay_allowed(same_room: bool, sender_in_voice: bool, target_in_voice: bool) -> Spec:
    """Does talklab's server relay an offer in this situation? (True or False)"""
    expected = same_room and sender_in_voice and target_in_voice
    return Spec(expected, "the server relays only between two people in voice in the same "
                "room; anything else gets a signalingError and goes nowhere.",
                "a call needs both ends in the voice channel of one room; check each of the "
                "three conditions.")


@question(Whole())
def xor_port(xored: int) -> Spec:
    """XOR-MAPPED-ADDRESS carries the port ``xored``: what is the real port?"""
    expected = xored ^ 0x2112
    return Spec(expected, f"0x{xored:04x} XOR 0x2112 = {expected}: the port is XORed with "
                "the top 16 bits of the magic cookie 0x2112A442 (RFC 8489, 14.2).",
                "the port travels XORed with the top half of the magic cookie; XOR again "
                "with the same 16 bits to get it back (Python: a ^ b).")


@question(Whole())
def candidate_priority(type: str, component: int = 1) -> Spec:
    """The RFC 8445 priority of a ``type`` candidate (local preference 65535)."""
    if type not in TYPE_PREFERENCE:
        raise ValueError(f"type is one of {sorted(TYPE_PREFERENCE)}")
    expected = _priority(type, component)
    return Spec(expected, f"2^24×{TYPE_PREFERENCE[type]} + 2^8×65535 + (256−{component}) = "
                f"{expected}.",
                f"priority = 2^24 × type preference + 2^8 × local preference + (256 − "
                f"component). Three terms: the type preference of {type} (the table above), "
                f"the local preference, and this candidate's component, {component}: which of "
                f"the three did you take differently?")


@question(YesNo())
def connects(a: str, b: str, turn: bool = False) -> Spec:
    """Do two people behind NATs of types ``a`` and ``b`` connect (with STUN; and with TURN
    too, when ``turn``)?"""
    for t in (a, b):
        if t not in NAT_TYPES:
            raise ValueError(f"NAT types are {sorted(NAT_TYPES)}")
    hard = {a, b} in ({"symmetric"}, {"symmetric", "port-restricted"})
    expected = turn or not hard
    why = ("with TURN a relay always works." if turn else
           "a symmetric NAT gives each destination a new port, so the port learnt through "
           "STUN is not the one the peer sees, and a port-restricted or symmetric filter drops "
           "the peer's packets." if hard else
           "at least one side keeps one mapping for every destination, so checks to its "
           "server-reflexive address get through.")
    return Spec(expected, why, "does either NAT give a new public port for each destination "
                "(mapping)? Would the other side's filter let in packets from a port it has "
                "never sent to?" if not turn else "what can a relay do that STUN cannot?")


@question(Whole())
def upload_streams(n: int) -> Spec:
    """In a full mesh of ``n``, how many copies of their voice does each person upload?"""
    return Spec(n - 1, f"one per other person: n−1 = {n - 1} (an SFU needs one).",
                "in a mesh nobody forwards anybody's voice: whom must each person send it to?")
