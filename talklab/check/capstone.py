"""The capstone's check: a room you built, verified by what its people really hear."""

from __future__ import annotations

from typing import Any

from .feedback import NOT_YET, RIGHT, Feedback


def capstone(lab: Any, min_people: int = 3) -> Feedback:
    """Your TalkRoom: at least ``min_people`` in voice, every link carrying audio, everyone
    hearing everyone at their tone, and at least one link relayed through TURN."""
    if lab is None or not getattr(lab, "running", False):
        return Feedback(NOT_YET, "start your lab first (lab = await talklab.Lab(...)), and "
                        "keep it running while the check looks at it.")
    people = [p for p in lab.people.values() if p.in_voice]
    if len(people) < min_people:
        return Feedback(NOT_YET, f"{len(people)} people in voice; bring at least "
                        f"{min_people} (lab.join(name, voice=True)).")
    graph = lab.graph()
    quiet = [f"{a}–{b} ({d['state']})" for a, b, d in graph.edges(data=True)
             if d["state"] != "connected"]
    if quiet:
        return Feedback(NOT_YET, f"these links carry no audio yet: {', '.join(quiet)}. Wait "
                        "with `await lab.wait_connected()`: if it gives up, its message says "
                        "what each failing link needs.")
    expected = len(people) * (len(people) - 1) // 2
    if graph.number_of_edges() < expected:
        return Feedback(NOT_YET, f"{graph.number_of_edges()} links for {len(people)} people; "
                        "a full mesh has a call for every pair.")
    for p in people:
        heard = p.hears()
        for q in people:
            if q is not p and abs(heard.get(q.name, 0) - (q.tone_hz or 0)) > 2:
                return Feedback(NOT_YET, f"{p.name} does not (yet) hear {q.name}'s tone: "
                                f"wait for a second of audio (await {p.name.lower()}"
                                ".wait_heard(1.0)) and check again.")
    if not any(d["route"] == "relay" for *_, d in graph.edges(data=True)):
        return Feedback(NOT_YET, "everyone hears everyone, but nothing goes through TURN: "
                        "which NATs can STUN not get through (notebook 06)? Put two people "
                        "behind them.")
    return Feedback(RIGHT, f"{len(people)} people, {expected} calls, everyone heard, and TURN "
                    "relaying where STUN could not.")
