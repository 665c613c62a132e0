"""Notebook 12's code exercise: the rule that makes one call's state from its two ends' reports.

The learner writes ``link_state(a, b) -> str``: ``a`` and ``b`` are the states the call's two
people report (``"connected"``, ``"connecting"``, ``"failed"``...; ``None`` when that person has
not said anything yet). :func:`link_state` judges it on the cases a class produces, then
rebuilds the live classroom's dashboard with it, from the reports the students' kernels really
sent, and compares that with the dashboard talklab's own rule draws.

Tested in tests/test_exercises_12.py (notebook 12's exercise run live with the answer key, the
stub and the usual mistakes).
"""

from __future__ import annotations

from typing import Any

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback

__all__ = ["link_state"]

CASES = [  # (a, b, what the dashboard must say, the hint when it does not)
    ("connected", "connected", "connected",
     "when both people say they hear each other, what else could the call be?"),
    ("connected", "failed", "failed",
     "one side gave up: can the call carry audio both ways while the other waits for it?"),
    ("failed", "connected", "failed",
     "the same call seen from the other end: does the order of the two reports matter?"),
    ("connected", None, "connecting",
     "only one person has reported. Ana hearing Ben says nothing about Ben hearing Ana: is "
     "the call carrying audio *both ways* yet?"),
    ("connecting", "connected", "connecting",
     "one side hears, the other not yet: a call is as good as its worse end."),
    ("disconnected", "connected", "disconnected",
     "one side has lost the other (consent checks stopped answering): which end decides?"),
    (None, None, "unreported",
     "nobody has said anything about this call yet: the dashboard says so with its own word, "
     "'unreported'."),
]


async def link_state(function: Any, classroom: Any = None) -> Feedback:
    """Judge your ``link_state(a, b)``; with ``classroom`` (the notebook's), also redraw its
    live dashboard with your rule and compare it with talklab's."""
    return await run(function, lambda f: _judge(f, classroom), name="link_state", timeout=10)


async def _judge(function: Any, classroom: Any) -> Feedback:
    for a, b, expected, hint in CASES:
        given = await call(function, a, b)
        if not isinstance(given, str):
            return Feedback(NOT_YET, f"link_state({a!r}, {b!r}) gave {given!r}: give the "
                            "call's state as a string, e.g. return \"connected\".")
        if given != expected:
            return Feedback(NOT_YET, f"link_state({a!r}, {b!r}) gave {given!r}, which is not "
                            f"what a teacher should see. {hint}")
    if classroom is None:
        return Feedback(RIGHT, f"your rule gives the right state in all {len(CASES)} cases.")
    if not classroom.running:
        return Feedback(RIGHT, f"your rule gives the right state in all {len(CASES)} cases. "
                        "The live part needs the classroom, which has closed (the notebook's "
                        "last cell closes it): run the cells from \"Three students join by "
                        "URL\" again, then this check, to see the live dashboard with your "
                        "rule.")
    app = classroom.server.app
    rooms = app.rooms.rooms()
    mine = app.classroom.dashboard(rooms, app.store.voice_cap, {}, rule=function)
    theirs = app.classroom.dashboard(rooms, app.store.voice_cap, {})
    calls = [(room["room"], link["a"], link["b"], link["state"], ours["state"])
             for room, other in zip(mine, theirs, strict=True)
             for link, ours in zip(room["links"], other["links"], strict=True)]
    differ = [c for c in calls if c[3] != c[4]]
    if differ:
        room, a, b, yours, _ = differ[0]
        return Feedback(NOT_YET, f"in the live room {room}, your rule says the {a}–{b} call is "
                        f"{yours!r} from the reports {a} and {b} really sent, where the "
                        "dashboard's own rule says otherwise. Look at what each of them reported "
                        "(the table above).")
    if not calls:
        return Feedback(RIGHT, f"your rule gives the right state in all {len(CASES)} cases; "
                        "the classroom has no call in it yet to draw with your rule (run the "
                        "cell where the students join, then this check again).")
    states = ", ".join(f"{a}–{b} {s}" for _, a, b, s, _ in calls)
    return Feedback(RIGHT, f"your rule gives the right state in all {len(CASES)} cases, and "
                    f"the live dashboard drawn with it says what talklab's does ({states}). "
                    "A call is as good as its worse end: connected only when both people hear "
                    "each other.")
