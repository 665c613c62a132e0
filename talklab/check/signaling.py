"""Notebook 02's questions and code exercise: the signaling server, the postman.

The exercise: the learner writes the seed's relay for ``webrtc-answer`` (Step 6) as a plain
function, and :func:`relay_answer` plugs it into a real talklab server, in a live lab where
Dave answers Alice's offer. It is right when the call it relayed really connected.

Tested in tests/test_exercises_02.py (notebook 02's question, and its relay run in a live lab
with the answer key, the stub and wrong relays).
"""

from __future__ import annotations

import asyncio
from typing import Any

from talklab.check.exercise import call, explain, run, where
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Spec, Whole, question
from talklab.server import payloads
from talklab.tasks import within

__all__ = ["relay_answer", "seats_taken"]


@question(Whole())
def seats_taken(in_voice: int, clicking: int, cap: int = 6) -> Spec:
    """``in_voice`` people are in a voice channel of ``cap`` seats; ``clicking`` more click
    "Join Voice" at the very same moment. How many of them get a seat?"""
    expected = max(0, min(clicking, cap - in_voice))

    def hint(given: Any) -> str:
        if given == clicking and clicking > cap - in_voice:
            return ("could they all get in? Each join counts the seats taken and marks its own "
                    "in one step that nothing can interleave with.")
        return (f"{in_voice} of {cap} seats are taken; the server handles the clicks one at a "
                "time, each seeing the seats the previous ones took.")
    return Spec(expected, f"{cap} − {in_voice} seats are left, and the count-and-mark is one "
                f"step: {expected} get one, the rest hear \"Voice channel is full!\".", hint)


async def relay_answer(function: Any) -> Feedback:
    """Run your ``relay_answer(sid, data) -> (to, payload)``, the seed's Step 6 handler, as the
    real server's relay for ``webrtc-answer``, and see whether Alice's call with Dave works."""
    return await run(function, _live_answer, name="relay_answer", timeout=25)


async def _live_answer(function: Any) -> Feedback:
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        assert lab.server is not None
        app = lab.server.app
        relayed: list[tuple[str, Any, Any]] = []
        problems: list[str] = []
        returned = asyncio.Event()  # the learner's function has run (or raised)

        async def on_answer(sid: str, data: Any = None, *extra: Any) -> None:
            try:  # the server's own checks first: a well-formed answer, to someone allowed
                p = payloads.description(data, "answer")
                sender, _target = await app.store.check_relay(sid, p["to"])
            except Exception as exc:  # (the learner's function is not at fault here)
                await app.refuse(sid, "webrtc-answer", str(exc))
                return
            try:
                result = await call(function, sid, p)
            except NotImplementedError:
                problems.append("stub")
                return
            except Exception as exc:
                problems.append(f"your relay_answer raised {type(exc).__name__}: {exc}"
                                f"{where(exc)}{explain(exc)}")
                return
            finally:
                returned.set()
            relayed.append((sid, p, result))
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict) \
                    and isinstance(result[0], str):
                await app.send("webrtc-answer", result[1], result[0], sender.room)

        app.sio.on("webrtc-answer", on_answer)  # the learner's relay, in place of talklab's
        alice = await lab.join("Alice", voice=True)
        dave = await lab.join("Dave", voice=True)  # Alice offers; Dave answers
        connected = False
        try:
            await within(returned.wait(), 6)
            # what the function returned is judged at once; only a relay that looks right
            # waits for the call to carry audio
            if relayed and _judge(relayed[0], alice.sid, True).verdict == RIGHT:
                await lab.wait_connected(6)
                connected = True
        except TimeoutError:
            pass
        if "stub" in problems:
            raise NotImplementedError
        if problems:
            return Feedback(NOT_YET, problems[0])
        if not relayed:
            return Feedback(NOT_YET, "Dave's answer never reached your function: the server "
                            "refused it before (see the signaling trace).")
        del dave
        return _judge(relayed[0], alice.sid, connected)


def _judge(relayed: tuple[str, Any, Any], alice: str | None, connected: bool) -> Feedback:
    sid, data, result = relayed
    if not (isinstance(result, tuple) and len(result) == 2):
        return Feedback(NOT_YET, f"your function returned {type(result).__name__}; it must "
                        "return a pair: (whom to send it to, what to send them).")
    to, payload = result
    if not isinstance(to, str) or not isinstance(payload, dict):
        return Feedback(NOT_YET, "the pair is (a socket id, a dict): whom to send it to, and "
                        "the payload they receive.")
    if to == sid:
        return Feedback(NOT_YET, "that sends Dave's answer back to Dave. Who is waiting for "
                        "it? The payload Dave sent says.")
    if to != alice:
        return Feedback(NOT_YET, "the answer went to the wrong socket: the one who made the "
                        "offer is named in what Dave sent.")
    if payload.get("answer") != data["answer"]:
        return Feedback(NOT_YET, "Alice needs Dave's answer itself, unchanged, under the same "
                        "key the seed uses.")
    if "from" not in payload:
        return Feedback(NOT_YET, "Alice receives an answer, but from whom? The seed's relay "
                        "adds one field so that she knows which of her connections it is for.")
    if payload["from"] != sid:
        return Feedback(NOT_YET, "`from` must be the sender's socket id: in the seed it is "
                        "socket.id, here the sid your function is given.")
    if not connected:
        return Feedback(NOT_YET, "the answer went the right way, but the call did not carry "
                        "audio: is anything else in the payload changed?")
    return Feedback(RIGHT, "Dave's answer reached Alice, stamped from Dave; the call "
                    "connected and carries audio both ways. That is all a postman does.")
