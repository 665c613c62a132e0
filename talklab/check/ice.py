"""Notebook 05's questions and code exercises (see :mod:`talklab.check.feedback` and
:mod:`talklab.check.exercise`).

* :func:`priority` — the learner writes RFC 8445's candidate priority formula; the check
  compares it with the priority aioice gave every local and remote candidate of a live call
  (host, srflx and relay: a lab of its own with STUN and TURN running, both people behind NATs);
* :data:`pair_rests_on` — which candidate of a pair decides most of the pair's priority?

Tested in tests/test_exercises_05.py (notebook 05's exercise run live with the answer key and
the stub, and its self-checks).
"""

from __future__ import annotations

from typing import Any

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, OneOf, Spec, question
from talklab.ice.inspect import ice_connection
from talklab.ice.priority import DEFAULT_LOCAL_PREFERENCE, TYPE_PREFERENCE

__all__ = ["pair_rests_on", "priority"]


async def priority(function: Any) -> Feedback:
    """Run your ``priority(type_preference, local_preference, component)`` against aioice.

    The check starts a lab of its own (STUN and TURN, Alice behind a restricted NAT, Bob behind
    a full-cone one), waits until their call carries audio, and then, for every candidate
    Alice's ICE agent knows (her own and Bob's: host, srflx, relay), compares what your
    function gives for that candidate's type preference, local preference and component
    with the priority aioice put on it."""
    return await run(function, _live_priority, name="priority", timeout=30)


def _as_xor(t: int, local: int, c: int) -> int:
    """RFC 8445's formula as its text reads, typed into Python: there ``^`` is XOR."""
    return 2 ^ 24 * t + 2 ^ 8 * local + (256 - c)


def _weights(function: Any) -> str | None:
    """What is off in the formula, found by probing it one input at a time (no live call)."""
    probes = [(126, 65535, 1), (100, 65535, 1), (0, 0, 2)]
    if all(function(*args) == _as_xor(*args) for args in probes):
        return ("Your formula reads like the RFC's, but in Python `^` is XOR (notebook 04 "
                "used it to undo the cookie), not a power: how is 2 to the 24th written in "
                "Python?")
    base = function(0, 0, 1)
    steps = {"type preference": (function(1, 0, 1) - base, 2 ** 24),
             "local preference": (function(0, 1, 1) - base, 2 ** 8)}
    for name, (step, want) in steps.items():
        if step != want:
            below = ("the local preference and the component" if name == "type preference"
                     else "the component")
            return (f"One more point of {name} moves your priority by {step!r}. In RFC 8445's "
                    f"formula each field is weighted so that nothing below it ({below}) can "
                    f"ever outweigh one point of it: how many bits do the fields below take, "
                    f"and which power of two did you give the {name}?")
    if function(0, 0, 2) - base != -1:
        return ("Component 2 (RTCP) should come out one *lower* than component 1 (RTP), which "
                "ICE prefers: how does the last term of the formula use the component id?")
    if base != 255:
        return ("The weights are right, but the last term is off: work out what it adds for "
                "component 1, from the formula above.")
    return None


async def _live_priority(function: Any) -> Feedback:
    from talklab.lab.lab import (
        Lab,  # (a lab only when the check runs: importing checks stays light)
    )

    first = await call(function, 126, DEFAULT_LOCAL_PREFERENCE, 1)  # a stub stops here
    if isinstance(first, bool) or not isinstance(first, int):
        return Feedback(NOT_YET, f"a priority is a whole number (an int); yours returned "
                        f"{type(first).__name__} {first!r}. (`**` and `<<` on ints stay "
                        "ints; `/` makes a float.)")
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat="restricted", voice=True)
        await lab.join("Bob", nat="full-cone", voice=True)
        await lab.wait_connected(15)
        connection = ice_connection(alice.link_to("Bob").pc)
        assert connection is not None
        seen = [("Alice's", c) for c in connection.local_candidates] + \
               [("Bob's", c) for c in connection.remote_candidates]
        results = []
        for whose, c in seen:
            mine = await call(function, TYPE_PREFERENCE[c.type], DEFAULT_LOCAL_PREFERENCE,
                              c.component)
            results.append((whose, c, mine))
    wrong = [(whose, c, mine) for whose, c, mine in results if mine != c.priority]
    types = sorted({c.type for _, c, _ in results}, key=lambda t: -TYPE_PREFERENCE[t])
    if not wrong:
        return Feedback(RIGHT, f"your formula gives aioice's priority for all {len(results)} "
                        f"candidates of a live call ({', '.join(types)}; Alice's and Bob's). "
                        "The type preference dominates: no local preference can lift a relay "
                        "candidate above an srflx one.")
    whose, c, mine = wrong[0]
    why = None
    if not _is_async(function):
        try:
            why = _weights(function)
        except Exception:  # probing with odd inputs may trip the learner's own checks
            why = None
    return Feedback(NOT_YET, f"{len(wrong)} of {len(results)} candidates differ from aioice, "
                    f"e.g. {whose} {c.type} candidate (type preference "
                    f"{TYPE_PREFERENCE[c.type]}, local preference {DEFAULT_LOCAL_PREFERENCE}, "
                    f"component {c.component}): yours gives {mine!r}. " + (why or
                    "Check each of the three terms against the formula above."))


def _is_async(function: Any) -> bool:
    import inspect
    return inspect.iscoroutinefunction(function)


# -- a self-check --------------------------------------------------------------------------------
@question(OneOf(["better", "worse"]))
def pair_rests_on() -> Spec:
    """A candidate pair joins one of my candidates with one of yours. Which of the two decides
    most of the pair's priority: the ``"better"`` one (higher priority) or the ``"worse"``?"""
    return Spec("worse", "the pair priority is 2^32 × min(G, D) + 2 × max(G, D) + …: the "
                "worse candidate is weighted 2^32, the better only 2. A pair is only as good "
                "as its weaker end, so a relay candidate drags any pair it is in below every "
                "direct pair.",
                "look at the pair-priority formula: which of min(G, D) and max(G, D) gets the "
                "big power of two?")
