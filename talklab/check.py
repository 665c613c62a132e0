"""Self-check exercises for the notebooks: you answer, talklab checks and explains.

Every function takes the learner's ``answer`` and returns :class:`Feedback`: true when right;
when wrong, a message that says what the right reasoning is (never just "no").
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from .ice.priority import TYPE_PREFERENCE
from .ice.priority import candidate_priority as _priority
from .nat.behaviour import NAT_TYPES


@dataclass
class Feedback:
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def _repr_html_(self) -> str:
        mark, colour = ("✔ right", "#047857") if self.ok else ("✘ not yet", "#b91c1c")
        return (f"<div style='border-left:4px solid {colour};padding:.2em .6em'>"
                f"<b style='color:{colour}'>{mark}</b> — {html.escape(self.message)}</div>")

    def __repr__(self) -> str:
        return f"{'RIGHT' if self.ok else 'NOT YET'}: {self.message}"


PENDING = "replace None with your answer, then run the cell again."


def _judge(answer: Any, expected: Any, right: str, wrong: str) -> Feedback:
    if answer is None:
        return Feedback(False, PENDING)
    return Feedback(True, right) if answer == expected else Feedback(False, wrong)


def mesh_links(n: int, answer: int) -> Feedback:
    """How many peer connections does a full mesh of ``n`` people need?"""
    expected = n * (n - 1) // 2
    return _judge(answer, expected, f"{n} people need n(n-1)/2 = {expected} connections.",
                  f"each of the {n} people connects to the other {n - 1}, and each connection "
                  f"is shared by two people: {n}×{n - 1}/2 = {expected}, not {answer}.")


def offers_to_newcomer(in_voice: int, answer: int) -> Feedback:
    """When someone joins a voice channel that already holds ``in_voice`` people, how many
    offers does the newcomer receive?"""
    return _judge(answer, in_voice, f"each of the {in_voice} already in voice sends one offer; "
                  "the newcomer only answers.",
                  f"in the seed, those already in voice make the offers (Step 3) and the "
                  f"newcomer answers each (Step 5): {in_voice} offers, not {answer}.")


def samples_per_frame(answer: int, rate: int = 48_000, ms: float = 20) -> Feedback:
    """How many samples are in one ``ms`` frame at ``rate`` Hz?"""
    expected = int(rate * ms / 1000)
    return _judge(answer, expected, f"{rate} samples/s × {ms / 1000} s = {expected}.",
                  f"samples = rate × duration = {rate} × {ms / 1000} s = {expected}, "
                  f"not {answer}.")


ERRORS = {
    "no microphone": "NotFoundError",
    "permission denied": "NotAllowedError",
    "impossible constraint": "OverconstrainedError",
}


def error_for(situation: str, answer: Any) -> Feedback:
    """Which getUserMedia error does ``situation`` raise? (an error class or its name)"""
    if situation not in ERRORS:
        raise ValueError(f"situation is one of {sorted(ERRORS)}")
    if answer is None:
        return Feedback(False, PENDING)
    name = getattr(answer, "name", None) or getattr(answer, "__name__", None) or str(answer)
    expected = ERRORS[situation]
    return _judge(name, expected, f"{situation}: {expected}.",
                  f"{situation} raises {expected} (NotFoundError: no device; NotAllowedError: "
                  f"the user or policy said no; OverconstrainedError: no device can meet a "
                  f"required constraint), not {name}.")


def sdp_codec(sdp: str, answer: str) -> Feedback:
    """Which codec does the first ``a=rtpmap`` line of ``sdp`` name?"""
    first = next((line for line in sdp.splitlines() if line.startswith("a=rtpmap:")), None)
    if first is None:
        raise ValueError("this SDP has no a=rtpmap line")
    name = first.split()[1].split("/")[0].lower()
    return _judge(None if answer is None else str(answer).lower(), name,
                  f"{first!r}: payload type {first.split()[0][9:]} is {name}.",
                  f"read the first a=rtpmap line, {first!r}: after the payload type comes "
                  f"codec/clock rate/channels, so the codec is {name}, not {answer}.")


def relay_allowed(same_room: bool, sender_in_voice: bool, target_in_voice: bool,
                  answer: bool) -> Feedback:
    """Does talklab's server relay an offer in this situation?"""
    expected = same_room and sender_in_voice and target_in_voice
    return _judge(None if answer is None else bool(answer), expected,
                  "right: the server relays only inside one room's voice channel.",
                  "talklab relays offers, answers and candidates only when sender and target "
                  "are in the same room and both in voice; otherwise the sender gets a "
                  "signalingError." if not expected else
                  "both are in voice in the same room, so the relay goes through.")


def xor_port(xored: int, answer: int) -> Feedback:
    """XOR-MAPPED-ADDRESS carries ``xored``: what is the real port?"""
    expected = xored ^ 0x2112
    return _judge(answer, expected, f"0x{xored:04x} XOR 0x2112 = {expected}.",
                  f"the port is XORed with the top 16 bits of the magic cookie (0x2112): "
                  f"0x{xored:04x} XOR 0x2112 = {expected}, not {answer}.")


def candidate_priority(type: str, answer: int, component: int = 1) -> Feedback:
    """The RFC 8445 priority of a ``type`` candidate (local preference 65535)."""
    expected = _priority(type, component)
    return _judge(answer, expected, f"2^24×{TYPE_PREFERENCE[type]} + 2^8×65535 + "
                  f"(256-{component}) = {expected}.",
                  f"priority = 2^24 × type preference ({TYPE_PREFERENCE[type]} for {type}) + "
                  f"2^8 × local preference (65535) + (256 − component {component}) = "
                  f"{expected}, not {answer}.")


def connects(a: str, b: str, answer: bool, turn: bool = False) -> Feedback:
    """Do two people behind NATs of types ``a`` and ``b`` connect (with STUN, and with TURN
    too when ``turn``)?"""
    for t in (a, b):
        if t not in NAT_TYPES:
            raise ValueError(f"NAT types are {sorted(NAT_TYPES)}")
    hard = {a, b} in ({"symmetric"}, {"symmetric", "port-restricted"})
    expected = turn or not hard
    why = ("with TURN, a relay always works" if turn else
           "a symmetric NAT gives each destination a new port, so the port learnt through STUN "
           "is not the one the peer sees, and a port-restricted or symmetric filter drops the "
           "peer's packets" if hard else
           "at least one side keeps one mapping for all destinations (or filters loosely), so "
           "checks to the server-reflexive address get through")
    return _judge(None if answer is None else bool(answer), expected, f"right: {why}.",
                  f"not quite: {why}.")


def upload_streams(n: int, answer: int) -> Feedback:
    """In a full mesh of ``n``, how many copies of their voice does each person upload?"""
    return _judge(answer, n - 1, f"one per other person: {n - 1}.",
                  f"in a mesh each person sends their voice to each of the other {n - 1} "
                  f"people separately (an SFU would need just 1), not {answer}.")


def capstone(lab, min_people: int = 3) -> Feedback:
    """Your TalkRoom: at least ``min_people`` in voice, every link carrying audio, everyone
    hearing everyone at their tone, and at least one link relayed through TURN."""
    people = [p for p in lab.people.values() if p.in_voice]
    if len(people) < min_people:
        return Feedback(False, f"{len(people)} people in voice; bring at least {min_people}.")
    graph = lab.graph()
    bad = [(a, b, d["state"]) for a, b, d in graph.edges(data=True) if d["state"] != "connected"]
    if bad:
        return Feedback(False, f"these links carry no audio yet: {bad}. Wait with "
                        "`await lab.wait_connected()`, or give them a way through (TURN).")
    expected = len(people) * (len(people) - 1) // 2
    if graph.number_of_edges() < expected:
        return Feedback(False, f"{graph.number_of_edges()} links for {len(people)} people; a "
                        f"full mesh has {expected}.")
    for p in people:
        heard = p.hears()
        for q in people:
            if q is not p and abs(heard.get(q.name, 0) - (q.tone_hz or 0)) > 2:
                return Feedback(False, f"{p.name} does not (yet) hear {q.name} at "
                                f"{q.tone_hz} Hz: {heard}.")
    if not any(d["route"] == "relay" for *_, d in graph.edges(data=True)):
        return Feedback(False, "everyone connects, but nothing goes through TURN: put two "
                        "people behind NATs that STUN alone cannot cross (symmetric).")
    return Feedback(True, f"{len(people)} people, {expected} links, all heard, and TURN "
                    "relaying where STUN could not.")
