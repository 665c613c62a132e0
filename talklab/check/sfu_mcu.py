"""Notebook 11's question and code exercise: the streams of a mesh, an SFU and an MCU.

The exercise: the learner writes ``streams_for(topology, n) -> (upload, download)``, the
streams one person sends and receives in a room of ``n``. :func:`streams_for` judges it
against rooms that really ran: the rows the notebook measured live (``measured=``), or rooms
of four it fills itself, one per topology, and counts the streams that carried packets. Where
Janus is not installed, the SFU and MCU answers are judged against the formula instead, and
the feedback says so.

Tested in tests/test_exercises_11.py (notebook 11's question, and its exercise judged against
rooms that ran).
"""

from __future__ import annotations

from typing import Any

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Spec, Whole, question

__all__ = ["janus_sends", "streams_for"]
RULES = {"mesh": lambda n: (n - 1, n - 1), "sfu": lambda n: (1, n - 1), "mcu": lambda n: (1, 1)}
HINTS = {
    "mesh": {"upload": "in the mesh there is no server: each person has a call with each of the "
                       "others, and sends each call its own copy.",
             "download": "in the mesh each call brings that person's voice: how many calls "
                         "does each person have?"},
    "sfu": {"upload": "an SFU takes one copy of each voice and forwards it: how many copies "
                      "does each person send up?",
            "download": "an SFU forwards each voice, as it came, to everyone else: how many "
                        "voices must each person still receive?"},
    "mcu": {"upload": "an MCU takes one copy of each voice, as an SFU does.",
            "download": "an MCU adds up everyone else's voices for each listener and encodes "
                        "that once: how many streams come down?"},
}


@question(Whole())
def janus_sends(n: int = 6) -> Spec:
    """In an SFU room of ``n`` people, how many streams does Janus send in all?"""
    expected = n * (n - 1)

    def hint(given: Any) -> str:
        if given == n * (n - 1) // 2:
            return "that counts pairs, as the mesh's calls do; an SFU stream goes one way only."
        if given == n:
            return "that is what Janus receives (one upload each); what does each person get?"
        return "count what one person downloads, then everyone's together."
    return Spec(expected, f"each of the {n} receives the {n - 1} others: {n} × {n - 1} = "
                f"{expected} streams out of Janus, {n} into it. The server's upload grows as n², "
                "everyone else's stays at one.", hint)


async def streams_for(function: Any, measured: list[dict[str, Any]] | None = None) -> Feedback:
    """Judge your ``streams_for(topology, n) -> (upload, download)`` against rooms that ran:
    ``measured`` (rows of :func:`talklab.lab.sidebyside.measure_room`), or rooms of four."""
    return await run(function, lambda f: _live(f, measured), name="streams_for", timeout=90)


async def _other_case(function: Any, n: int) -> bool:
    """Does the function tell the topologies apart only when their names are in capitals (it
    compares with 'MESH', 'SFU', 'MCU')?"""
    async def answers(names: list[str]) -> set[str]:
        found = set()
        for name in names:
            try:
                found.add(repr(await call(function, name, n)))
            except Exception:
                found.add("raised")
        return found
    return len(await answers(list(RULES))) == 1 and \
        len(await answers([t.upper() for t in RULES])) > 1


async def _live(function: Any, measured: list[dict[str, Any]] | None) -> Feedback:
    from talklab.lab.sidebyside import measure_room, usable

    rows = measured if measured else [await measure_room(t, 4, 1.0) for t in usable(RULES)]
    seen = {(r["topology"], int(r["n"])): (r["up streams"], r["down streams"]) for r in rows
            if r["topology"] in RULES}
    formula_only = sorted(set(RULES) - {t for t, _ in seen})
    cases = [*seen, *((t, n) for t in formula_only for n in (3, 6))]
    for topology, n in cases:
        given = await call(function, topology, n)
        if not (isinstance(given, tuple | list) and len(given) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in given)):
            return Feedback(NOT_YET, f"streams_for({topology!r}, {n}) gave {given!r}: give two "
                            "whole numbers, (upload, download), e.g. return (1, 2).")
        truth = seen.get((topology, n), RULES[topology](n))
        if tuple(given) != tuple(truth):
            where = "as measured in the room that ran" if (topology, n) in seen else \
                "(not measured here: Janus is not installed)"
            if tuple(given) == tuple(truth)[::-1]:
                return Feedback(NOT_YET, f"for {topology}, n={n}, your two numbers are the "
                                f"right ones {where}, the other way round: the function gives "
                                "(upload, download).")
            if await _other_case(function, n):
                return Feedback(NOT_YET, f"your function gives the same numbers for 'mesh', "
                                f"'sfu' and 'mcu' (n={n}): does it recognise the names it is "
                                "given, written as the notebook writes them (lower case)?")
            up_ok = given[0] == truth[0]
            which = "download" if up_ok else "upload"
            return Feedback(NOT_YET, f"for {topology}, n={n}, your {which} is not what a "
                            f"person has {where}. {HINTS[topology][which]}")
    ran = ", ".join(f"{t} n={n}" for t, n in seen)
    also = f"; {', '.join(formula_only)} judged by the formula (no Janus here)" \
        if formula_only else ""
    return Feedback(RIGHT, f"your counts match the streams that carried packets in the rooms "
                    f"that ran ({ran}){also}. Upload per person: n − 1 in the mesh, 1 with a "
                    "server; download: n − 1, n − 1 and 1.")
