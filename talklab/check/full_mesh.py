"""Notebook 08's question and code exercise: the full mesh, as people come and go.

The exercise: the learner writes what a browser does when the server says someone left voice
(``userLeftVoice``): hang up that one call, and only that one. :func:`user_left_voice` gives the
learner's handler to everyone in a live room of four, makes one of them leave, and judges what
the others' calls did.

Tested in tests/test_exercises_08.py (notebook 08's question, and its exercise run live with the
answer key, the stub and the usual mistakes).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from talklab.check.exercise import explain, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Spec, Whole, question

__all__ = ["calls_after_leaving", "user_left_voice"]
NAMES = ("Alice", "Bob", "Charlie", "Dave")


@question(Whole())
def calls_after_leaving(n: int, leaving: int) -> Spec:
    """A full mesh of ``n`` people; ``leaving`` of them leave voice. How many calls are left?"""
    left = n - leaving
    expected = left * (left - 1) // 2

    def hint(given: Any) -> str:
        if given == n * (n - 1) // 2 - leaving:
            return ("each one who leaves takes more than one call away: all of theirs, one "
                    "with every other person.")
        return "count the calls of the room that remains: one for every pair still in it."
    return Spec(expected, f"{left} people remain: {left} × {left - 1} / 2 = {expected} calls; "
                f"each one who left took all of their calls with them.", hint)


async def user_left_voice(function: Any) -> Feedback:
    """Give your ``handle_user_left_voice(me, data)`` to Alice, Charlie and Dave, and make
    Bob leave voice: each of them must hang up their call with Bob, and keep the others."""
    return await run(function, _live, name="handle_user_left_voice", timeout=25)


async def _live(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        people = {name: await lab.join(name, voice=True) for name in NAMES}
        await lab.wait_connected(10)
        bob = people["Bob"]
        stay = [p for name, p in people.items() if name != "Bob"]
        calls = {p.name: {sid: link for sid, link in p.links.items()} for p in stay}
        handler_errors: list[Any] = []
        lab.events.subscribe(lambda e: handler_errors.append(e) if e.kind == "handler-error"
                             else None)
        for p in stay:
            p.on("userLeftVoice", function)
        await bob.leave_voice()

        def settled() -> bool:
            if any(e.get("event") == "userLeftVoice" for p in stay for e in p.errors):
                return True  # the handler raised (a stub, say): nothing more will happen
            return all(bob.sid not in p.links or p.links[bob.sid].closed for p in stay)
        with contextlib.suppress(TimeoutError):
            await stay[0].wait_until(settled, 3, "everyone hung up on Bob")
        for p in stay:  # a handler that raised: say so first
            mine = [e for e in p.errors if e.get("event") == "userLeftVoice"]
            if mine:
                if "NotImplementedError" in mine[0]["message"]:
                    raise NotImplementedError
                error = next((e.data.get("exception") for e in handler_errors
                              if e.data.get("person") == p.name), None)
                return Feedback(NOT_YET, f"your handler raised {mine[0]['message']} "
                                f"(when {p.name} was told that Bob left)."
                                + explain(error or mine[0]["message"]))
        kept = [p.name for p in stay if bob.sid in p.links and not p.links[bob.sid].closed]
        forgotten = [p.name for p in stay if bob.sid not in p.links
                     and any(sid == bob.sid and not link.closed
                             for sid, link in calls[p.name].items())]
        if forgotten:
            return Feedback(NOT_YET, f"{', '.join(forgotten)} took the call with Bob out of "
                            "`me.links` but never closed that link. Its RTCPeerConnection "
                            "shuts down by itself once Bob's side says goodbye (or when you "
                            "close it), but talklab's call around it (its ear, the voice "
                            "playing into it, its task) runs on with nobody holding it. The "
                            "seed closes the connection it removes: in talklab, the link you "
                            "took out is what has that close.")
        if kept:
            return Feedback(NOT_YET, f"{', '.join(kept)} still keep a call with Bob, who has "
                            "left, in `me.links`. Its RTCPeerConnection has shut down (Bob's "
                            "side said goodbye), but talklab's call around it (its ear, the "
                            "voice playing into it, its task) runs on until it is closed and "
                            "taken out. The message says whose socket left: which entry is his, "
                            "and what does the seed do with it?")
        for p in stay:
            lost = [link.remote_name for sid, link in calls[p.name].items()
                    if sid != bob.sid and (link.closed or p.links.get(sid) is not link)]
            if lost:
                return Feedback(NOT_YET, f"{p.name} hung up on {', '.join(lost)} too: only "
                                "the call with the one who left should end.")
        if any(bob.sid in p.links for p in stay):
            return Feedback(NOT_YET, "the call with Bob is closed, but it is still listed in "
                            "`me.links`: take it out, or the room will be drawn with a call "
                            "that is gone (and Bob could not join again).")
        await asyncio.gather(*(p.wait_heard(0.3, timeout=5) for p in stay))
        graph = lab.graph()
        voices = sorted(n for n, d in graph.nodes(data=True) if d["in_voice"])
        if graph.number_of_edges() != 3 or voices != ["Alice", "Charlie", "Dave"]:
            return Feedback(NOT_YET, f"the room should be Alice, Charlie and Dave with 3 calls; "
                            f"it is {voices} with {graph.number_of_edges()}.")
        return Feedback(RIGHT, "Bob left; each of the three hung up on him and kept the other "
                        "two calls: 6 calls became 3, and the voices never stopped.")
