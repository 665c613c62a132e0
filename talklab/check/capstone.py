"""Notebook 09, the capstone: Dave's room, built by you, judged by what its people hear.

* :func:`handle_webrtc_answer`: the seed's ``handleWebRTCAnswer`` (Step 7), written by you and
  given to Alice, who offers when Bob joins voice; right when their call carries audio.
* :func:`handle_webrtc_ice_candidate`: the seed's ``handleWebRTCICECandidate`` (Step 8), given
  to Alice and Bob, each behind a NAT of their own with the lab's STUN server. Every candidate
  arrives trickled, after the descriptions, and the only route between them is made of the
  server-reflexive ones, which come last. Right when their call carries audio through the
  NATs.
* :func:`capstone`: the whole room. The seed's three servers (signaling, STUN, TURN), your two
  handlers in every browser, and your ``build_room(lab)``, which brings Alice, Bob and Charlie
  into voice and then Dave, each on a network you choose. Right when everyone hears everyone
  and the room has the seed's three kinds of call: host, srflx and relay. Then the check closes
  the signaling server and counts the calls that carry on (Step 9).

Tested in tests/test_exercises_09.py (notebook 09's exercises: both handlers run live with the
answer key, the stubs and the usual mistakes; Dave's room on a changed network).
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass, field
from typing import Any

from talklab import ice
from talklab.check.exercise import STUB, LiveRoom, call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback

__all__ = ["capstone", "handle_webrtc_answer", "handle_webrtc_ice_candidate"]

WAIT = 5.0  # s for a two-person call to carry audio (it needs well under a second)
ROOM_WAIT = 20.0  # s for Dave's room (TURN allocations, and ICE's patience for better pairs)
SEED_FOUR = ("Alice", "Bob", "Charlie", "Dave")
# the seed's three kinds of call; a prflx route (an address learnt during the checks, not one
# the STUN server reported) is none of them
TIER = {"host": "host", "srflx": "srflx", "relay": "relay"}
WHERE = {"host": "notebook 05: a host pair needs two people who can reach each other's own "
                 "addresses, on one network",
         "srflx": "notebooks 04 and 06: STUN's public addresses work through NATs that let "
                  "an answer back in",
         "relay": "notebook 06: which pairs of NATs can STUN not get through?"}


# -- Step 7 -----------------------------------------------------------------------------------
async def handle_webrtc_answer(function: Any) -> Feedback:
    """Your ``handle_webrtc_answer(me, data)``, run by Alice when Bob answers her offer: right
    when their call carries audio both ways."""
    return await run(function, _answer_live, name="handle_webrtc_answer", timeout=30)


async def _answer_live(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        room = LiveRoom(lab)
        alice = await lab.join("Alice")
        alice.on("webrtc-answer", function)
        await alice.join_voice()
        room.people = [alice, await lab.join("Bob", voice=True)]
        connected = await room.settle(WAIT)
        problem = room.problem("The seed's handler finds the connection to whoever answered "
                               "(data[\"from\"]) and applies the answer to it.")
        if problem:
            return Feedback(NOT_YET, problem)
        if not connected:
            return Feedback(NOT_YET, "Alice sent her offer and Bob answered, but the call never "
                            f"carried audio within {WAIT:g} s. Alice's connection to Bob "
                            "knows its own description; what does it still need from Bob "
                            "before ICE can start?")
        missing = await _heard(room.people, room)
    if missing:
        return Feedback(NOT_YET, "the call connected, but " + "; ".join(missing) + ".")
    return Feedback(RIGHT, "Alice applied Bob's answer and the call carries audio both ways: "
                    "Step 7, the offer/answer exchange complete.")


# -- Step 8 -----------------------------------------------------------------------------------
async def handle_webrtc_ice_candidate(function: Any) -> Feedback:
    """Your ``handle_webrtc_ice_candidate(me, data)``, run by Alice, Bob and Charlie, each behind
    a NAT of their own: right when every call carries audio through the NATs (a srflx route)
    and every candidate reached the one connection it belongs to (with three people, a handler
    that adds each candidate to every connection would also get its calls up)."""
    return await run(function, _candidate_live, name="handle_webrtc_ice_candidate", timeout=30)


def misplaced(people: list[Any]) -> list[str]:
    """Candidates that reached a connection to someone other than whoever sent them: each
    remote candidate of a call must be one of the other side's own addresses (their host's, or
    their NAT's public address)."""
    by_name = {p.name: p for p in people}
    found = []
    for person in people:
        for link in person.links.values():
            remote = by_name.get(link.remote_name)
            if remote is None:
                continue
            theirs = {remote.host.address} | (
                {remote.host.nat.public_ip} if remote.host.nat is not None else set())
            strangers = [c for c in ice.candidates(link.pc)
                         if c["side"] == "remote" and c["address"] not in theirs]
            if strangers:
                where = f"{strangers[0]['address']}:{strangers[0]['port']}"
                found.append(f"{person.name}'s call with {remote.name} got a candidate that is "
                             f"not {remote.name}'s ({where})")
    return found


async def _candidate_live(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab(stun=True) as lab:
        room = LiveRoom(lab)
        lab.on("webrtc-ice-candidate", function)
        room.people = [await lab.join(name, nat="port-restricted", voice=True)
                       for name in ("Alice", "Bob", "Charlie")]
        connected = await room.settle(WAIT)
        problem = room.problem("The seed's handler finds the connection to whoever sent the "
                               "candidate (data[\"from\"]) and adds the candidate to it.")
        if problem:
            return Feedback(NOT_YET, problem)
        wrong = misplaced(room.people)
        if wrong:
            return Feedback(NOT_YET, f"{wrong[0]}. A candidate is an address of whoever sent "
                            "it: which one connection is it for?")
        if not connected:
            return Feedback(NOT_YET, f"no call within {WAIT:g} s. The descriptions carried no "
                            "routes at all: every candidate, the public address STUN found "
                            "last, came afterwards as a webrtc-ice-candidate message. Where "
                            "does each one have to end up?")
        routes = sorted({link.route or "none" for p in room.people for link in p.links.values()})
        missing = await _heard(room.people, room)
    if missing:
        return Feedback(NOT_YET, "the calls connected, but " + "; ".join(missing) + ".")
    return Feedback(RIGHT, f"the trickled candidates reached the right connection, each of "
                    f"them, and ICE found the way through the NATs ({', '.join(routes)}): "
                    f"Step 8.")


async def _heard(people: list[Any], room: LiveRoom) -> list[str]:
    for person in people:
        await person.wait_heard(0.5)
    return room.unheard(people)


# -- the capstone -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One call of your room, as it ran."""

    between: str
    route: str | None
    heard: bool  # each side heard the other's tone


@dataclass(frozen=True, repr=False)
class Capstone(Feedback):
    """The capstone's verdict, with the calls of the room it ran (empty if it did not)."""

    calls: tuple[Call, ...] = ()
    carried_on: int | None = None  # calls still carrying audio after the server closed
    graph: Any = field(default=None, compare=False)  # the room, drawn by views.rooms_drawing

    @property
    def relayed(self) -> int | None:
        """How many calls went through TURN (None: the room did not run)."""
        return sum(c.route == "relay" for c in self.calls) if self.calls else None

    def route(self, a: str, b: str) -> str | None:
        """The route of the call between ``a`` and ``b`` (None: no such call)."""
        for c in self.calls:
            if set(c.between.split(" – ")) == {a, b}:
                return c.route
        return None

    def _repr_html_(self) -> str:
        out = Feedback(self.verdict, self.message)._repr_html_()
        if self.calls:
            rows = "".join(f"<tr><td>{html.escape(c.between)}</td><td>{c.route or '—'}</td>"
                           f"<td>{'yes' if c.heard else 'no'}</td></tr>" for c in self.calls)
            out += ("<table style='margin:.3em 0'><thead><tr><th>call</th><th>route</th>"
                    f"<th>heard both ways</th></tr></thead><tbody>{rows}</tbody></table>")
        return out


async def capstone(build_room: Any, handle_webrtc_answer: Any = None,
                   handle_webrtc_ice_candidate: Any = None) -> Capstone:
    """Dave's room: your ``build_room(lab)`` in a lab with the seed's three servers, every
    browser running your two handlers (talklab's own where you pass ``None``)."""
    for name, handler in (("handle_webrtc_answer", handle_webrtc_answer),
                          ("handle_webrtc_ice_candidate", handle_webrtc_ice_candidate)):
        if handler is not None and not callable(handler):
            return Capstone(NOT_YET, f"pass your {name} function itself (no parentheses), not "
                            f"{type(handler).__name__} {handler!r}.")
    result: dict[str, Any] = {}

    async def live(function: Any) -> Feedback:
        return await _room_live(function, handle_webrtc_answer, handle_webrtc_ice_candidate,
                                result)
    feedback = await run(build_room, live, name="build_room", timeout=60)
    if feedback.verdict == NOT_YET and feedback.message == STUB:
        feedback = Feedback(NOT_YET, STUB + " Your build_room(lab) is given the lab: `await "
                            "lab.join(\"Alice\", nat=..., voice=True)` brings Alice into voice "
                            "on the network you give her; Dave comes last.")
    return Capstone(feedback.verdict, feedback.message, calls=tuple(result.get("calls", ())),
                    carried_on=result.get("carried_on"), graph=result.get("graph"))


async def _room_live(build_room: Any, answer: Any, candidate: Any,
                     result: dict[str, Any]) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab(stun=True, turn=True) as lab:
        room = LiveRoom(lab)
        for event, handler in (("webrtc-answer", answer), ("webrtc-ice-candidate", candidate)):
            if handler is not None:
                lab.on(event, handler)
        order: list[str] = []  # who joined voice, in order

        def joined(event: Any) -> None:
            if event.kind == "voice-joined":
                order.append(event["person"])
        lab.events.subscribe(joined)
        await call(build_room, lab)
        problem = _handlers_problem(room)
        if problem:
            return Feedback(NOT_YET, problem)
        people = [p for p in lab.people.values() if p.in_voice]
        shape = _shape(people, order)
        if shape:
            return Feedback(NOT_YET, shape)
        connected = await room.settle(ROOM_WAIT)
        problem = _handlers_problem(room)
        if problem:
            return Feedback(NOT_YET, problem)
        if not connected:
            return Feedback(NOT_YET, f"not every call carried audio: {room.timed_out}")
        missing = await _heard(people, room)
        graph = lab.graph()
        calls = [Call(" – ".join(sorted((a, b))), d["route"],
                      not any(m in (f"{a} does not hear {b}", f"{b} does not hear {a}")
                              for m in missing))
                 for a, b, d in sorted(graph.edges(data=True), key=lambda e: sorted(e[:2]))]
        result.update(calls=calls, graph=graph)
        result["carried_on"] = await _after_the_server(lab, people)
    if missing:
        return Feedback(NOT_YET, "every call connected, but " + "; ".join(missing) + ".")
    tiers = {TIER.get(c.route or "", "") for c in calls}
    prflx = sum(c.route == "prflx" for c in calls)
    for tier in ("host", "srflx", "relay"):
        if tier not in tiers:
            also = (f" ({prflx} went prflx: a direct route through an address learnt during "
                    "the checks, not the one STUN reported)" if prflx and tier == "srflx"
                    else "")
            return Feedback(NOT_YET, f"everyone hears everyone, but no call is {tier}{also}: "
                            "the seed's three kinds of call are host, srflx and relay. Which "
                            f"networks make ICE choose {tier} ({WHERE[tier]})?")
    return Feedback(RIGHT, f"{len(people)} people, {len(calls)} calls, everyone hears everyone, "
                    "and all three kinds of call: "
                    + ", ".join(f"{sum(c.route == t for c in calls)} {t}"
                                for t in ("host", "srflx", "prflx", "relay")
                                if t != "prflx" or prflx)
                    + f". With the signaling server gone, {result['carried_on']} of "
                    f"{len(calls)} calls carried on.")


def _handlers_problem(room: LiveRoom) -> str | None:
    """An error one of the learner's handlers raised in a browser (the stub, say)."""
    if any(error.startswith("NotImplementedError") for error in room.errors):
        return ("a handler your browsers run is still the stub: fill in handle_webrtc_answer "
                "and handle_webrtc_ice_candidate above, and see their checks say right first.")
    return room.problem("")


def _shape(people: list[Any], order: list[str]) -> str | None:
    """What is wrong with who is in voice (None: the seed's four, Dave last)."""
    names = sorted(p.name for p in people)
    if names != sorted(SEED_FOUR):
        have = ", ".join(names) or "nobody"
        return (f"in voice: {have}. The seed's story has four in voice: Alice, Bob, Charlie and "
                "Dave (voice=True brings a person into voice).")
    if order and [n for n in order if n in SEED_FOUR][-1] != "Dave":
        return ("in the seed's story Alice, Bob and Charlie are already in voice when Dave "
                "joins: bring Dave in last.")
    forced = [p.name for p in people if p.relay_only]
    if forced:
        return (f"{', '.join(forced)} may only relay (relay_only=True). The relayed calls must be "
                "ICE's choice: the route it takes when nothing better works.")
    return None


AFTER_THE_SERVER = 100  # frames (2 s of audio) each ear must still hear, both ways of a call
PATIENCE = 15.0  # s for them: a busy machine decodes more slowly than real time, and a call
# that carries on slowly still carries on (a call that stopped gets nothing at all)


async def _after_the_server(lab: Any, people: list[Any]) -> int:
    """Close the signaling server (Step 9) and count the calls that still carry audio, both
    ways: two seconds more of it reach each ear (far more than the 16 packets a jitter buffer
    can hold from before)."""
    before = {(p.name, sid): link.ear.frames for p in people for sid, link in p.links.items()}
    assert lab.server is not None
    await lab.server.close()

    async def two_more_seconds(p: Any, sid: str) -> bool:
        link = p.links.get(sid)
        if link is None:
            return False
        try:
            await link.ear.wait_frames(before[(p.name, sid)] + AFTER_THE_SERVER, PATIENCE)
        except TimeoutError:
            return False
        return True

    keys = list(before)
    ok = dict(zip(keys, await asyncio.gather(*(two_more_seconds(p, sid) for p, sid in
                                               ((lab.people[n], s) for n, s in keys))),
                  strict=True))
    by_sid = {p.sid: p.name for p in people}
    pairs = {frozenset((name, by_sid.get(sid, sid))) for name, sid in keys}
    return sum(all(ok.get((name, sid), False) for name, sid in keys
                   if frozenset((name, by_sid.get(sid, sid))) == pair) for pair in pairs)
