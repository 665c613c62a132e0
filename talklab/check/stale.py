"""The course's one rule for a cell that reports on a room: never a success on stale state.

A learner re-runs the cell that makes the lab, or the notebook's closing cell has run, and then
runs a cell further down again. The people that cell reads belong to a lab that is gone (their
calls hung up), or the new lab is empty: a table, a drawing or a check computed from them would
say something false ("every call carried five more seconds of audio" about zero calls, "all
rows ticked" with nobody in voice). Every cell of the course that reads a lab, a person or a
room made by an earlier cell is tagged ``reports`` and starts with :func:`ready`, which stops
the cell with one sentence that says what is wrong and names the cell to run (by the line that
made the lab or the person, which the learner can find on the page), or lets it go on.

    check.ready(lab, alice, bob, voice=True)   # lab running, both in it (and in voice)

Tested in tests/test_ready.py (a replaced, closed or empty lab, a person out of voice, a server
gone, each said in one sentence naming the cell to run).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from talklab.notebook import Sentence, where_made


class NotReady(Sentence, RuntimeError):
    """What a cell was about to report on is not there (a lab closed, replaced or empty, a
    person gone): the message names the cell to run."""


def ready(lab: Any, *things: Any, voice: bool = False, stun: bool | None = None,
          turn: bool | None = None) -> None:
    """Stop the cell (:class:`NotReady`) unless ``lab`` is running and each of ``things``
    (people, or their names; their calls, Socket.IO clients, live views) is still part of it
    (with ``voice``, every person given is in voice too). ``stun``/``turn``: True, the lab
    must run that server; False, it must not (a cell about a room without one). Given nothing
    but the lab, it must have people."""
    problem = _lab_problem(lab, empty_matters=not things and stun is None and turn is None)
    for wanted, server in ((stun, "stun"), (turn, "turn")):
        if problem is None and wanted is not None \
                and (getattr(lab, server, None) is not None) != wanted:
            problem = _server_problem(lab, server, wanted)
    if problem is None:
        for thing in things:
            problem = _problem(lab, thing, voice)
            if problem is not None:
                break
    if problem is not None:
        raise NotReady(problem + " Then run this cell again.")


def _server_problem(lab: Any, server: str, wanted: bool) -> str:
    """A lab (or classroom) with a STUN or TURN server where the cell wants none, or the
    other way round: which cell makes the one the cell wants."""
    made = getattr(lab, "made_by", None)
    by = f" (it was made by the cell with {made})" if made else ""
    kind = type(lab).__name__
    there = where_made(f"{kind} {'with' if wanted else 'without'} {server}")
    cell = f"the cell with {there}" if there else \
        f"the cell of this notebook that makes a {kind.lower()} with {server}={wanted} (not " \
        "this one, changed: that cell makes what the cells after it use)"
    this = _what(lab).replace("the ", "this ", 1)
    if wanted:
        return f"{this} has no {server.upper()} server{by}: run {cell} again."
    return (f"{this} has a {server.upper()} server{by}, and this cell is about one without: "
            f"run {cell} again.")


def _cell(obj: Any, fallback: str) -> str:
    made = getattr(obj, "made_by", None)
    return f"the cell with {made}" if made else fallback


def measured(*results: Any, what: str, cell: str) -> None:
    """Stop a cell that reads what a live cell measures, with one sentence, while that cell
    has not run to its end (interrupted, or not run yet: its results are still None). ``cell``
    is a line of the cell that measures, as the learner can find it on the page."""
    if any(result is None for result in results):
        raise NotReady(f"{what} has not been measured to its end (interrupted, or not run "
                       f"yet): run the cell with `{cell}` again, to its end. Then run this "
                       "cell again.")


def _lab_problem(lab: Any, empty_matters: bool) -> str | None:
    """What is wrong with the lab (or the server) a cell reports on, if anything."""
    if lab is None or not hasattr(lab, "running"):
        return (f"this cell reports on a lab, and got {type(lab).__name__} {lab!r}: run the "
                "cell that makes the lab (`lab = await talklab.Lab(...)`) first.")
    what = _what(lab)
    again = _cell(lab, f"the cell that makes {what}")
    if not lab.running:
        why = (getattr(lab, "closed_because", None) or "was closed").removeprefix("their lab ")
        closer = getattr(lab, "closed_by", None)
        how = f"it {why}" + (f", by the cell with {closer}" if closer else "")
        return f"{what} is closed ({how}): run {again}, and the cells after it, again."
    if empty_matters and hasattr(lab, "people") and not lab.people:
        first = getattr(lab, "first_people", None) or where_made(
            f"first people of {type(lab).__name__}")
        made = getattr(lab, "made_by", None)
        by = f" (it was made by the cell with {made})" if made else ""
        todo = (f"run the cell with {first}, and the cells after it, first" if first else
                "run the cells below that one first")
        return f"nobody is in {what.replace('the ', 'this ', 1)} yet{by}: {todo}."
    return None


def _problem(lab: Any, thing: Any, voice: bool) -> str | None:
    if isinstance(thing, (list, tuple, set, frozenset)):
        return next((p for p in (_problem(lab, t, voice) for t in thing) if p), None)
    if isinstance(thing, str):  # a person by name: someone the cell will look up in the lab
        person = getattr(lab, "people", {}).get(thing)
        if person is None:
            there = where_made(f"person {thing}")
            if there:
                return (f"nobody called {thing} is in {_what(lab).replace('the ', 'this ', 1)}: "
                        f"run the cell with {there} (which brings {thing} in) again.")
            made = getattr(lab, "made_by", None)
            by = f" (made by the cell with {made})" if made else ""
            return (f"nobody called {thing} is in this lab{by}: run the cells below that one, "
                    f"which bring {thing} in, first.")
        return _problem(lab, person, voice)
    name = getattr(thing, "name", None)
    if hasattr(thing, "remote_name") and hasattr(thing, "pc"):  # a link (a call)
        if thing.closed:
            return (f"that call ({thing.remote_name}'s) has hung up: run the cells that make "
                    "its two people again.")
        return None
    if hasattr(thing, "sio") and hasattr(thing, "connected") and not hasattr(thing, "links"):
        if not thing.connected:  # a bare Socket.IO client (notebook 02)
            return (f"{name or 'this client'}'s connection to the signaling server is closed "
                    f"(the lab's server went with the lab, or it was closed): run "
                    f"{_cell(thing, 'the cell that connects it')} again.")
        return None
    if hasattr(thing, "lab") and not hasattr(thing, "people"):  # a live view of a lab
        if thing.lab is not lab:
            return (f"{_what(thing)} follows a lab that was replaced: run "
                    f"{_cell(thing, 'the cell that makes it')} again.")
        return None
    if name is not None and hasattr(thing, "closed"):  # a person
        if thing.closed:
            return (f"{name} is gone ({getattr(thing, 'closed_because', 'hung up')}): run "
                    f"{_cell(thing, 'the cell that adds ' + name)} again.")
        if lab.people.get(name) is not thing:
            return (f"{name} belongs to another lab, not this one: run "
                    f"{_cell(thing, 'the cell that adds ' + name)} again.")
        if voice and not getattr(thing, "in_voice", False):
            return (f"{name} is not in voice: run {_cell(thing, 'the cell that adds ' + name)}"
                    " again.")
        return None
    return None


def _what(thing: Any) -> str:
    return {"LinkStatsView": "this live table", "MeshView": "this live drawing",
            "DaveChecklist": "this checklist", "RoomPanel": "this panel", "Lab": "the lab",
            "Classroom": "the classroom", "StunServer": "the STUN server",
            "SignalingServer": "the signaling server", "RedisServer": "Redis",
            }.get(type(thing).__name__, "this view")


def gone(people: Iterable[Any]) -> list[str]:
    """The names of ``people`` who have hung up (for a check that wants to say so)."""
    return [p.name for p in people if getattr(p, "closed", False)]
