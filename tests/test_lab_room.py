"""The lab knows its room from its people: the same drawing whatever the server, and after the
server has gone (the seed's Step 9: "the signaling server's job is done")."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from talklab import Lab

NAMES = ("Alice", "Bob", "Charlie")


def shape(graph) -> tuple:
    """What a learner sees in the drawing: who, in voice or not, and every call's state."""
    nodes = sorted((n, d["in_voice"], d["kind"], d["room"]) for n, d in graph.nodes(data=True))
    edges = sorted((tuple(sorted((a, b))), d["state"], d["route"])
                   for a, b, d in graph.edges(data=True))
    return nodes, edges


async def fill(lab: Lab) -> list:
    people = [await lab.join(name, voice=True) for name in NAMES]
    await lab.join("Dave")  # in the room, not in voice
    await lab.wait_connected(15)
    return people


async def test_a_lab_on_a_redis_backed_server_draws_the_same_room(redis):
    async with Lab() as memory:
        await fill(memory)
        expected = shape(memory.graph())
    async with Lab(redis=redis.url) as shared:
        await fill(shared)
        assert shape(shared.graph()) == expected
    nodes, edges = expected
    assert [n for n, in_voice, *_ in nodes if in_voice] == list(NAMES)
    assert [state for _, state, _ in edges] == ["connected"] * 3


async def test_the_postman_leaves_and_the_voices_stay():
    async with Lab() as lab:
        people = await fill(lab)
        before = shape(lab.graph())
        frames = {(p.name, link.remote_name): link.ear.frames
                  for p in people for link in p.links.values()}
        await lab.server.close()  # Step 9: the signaling server's job is done
        for p in people:
            await p.wait_until(lambda p=p: not p.signaling, 5, "the server's goodbye")
        # five more seconds of audio, from both others, at every person
        for p in people:
            for link in p.links.values():
                await link.ear.wait_frames(frames[(p.name, link.remote_name)] + 250, 15)
        for p in people:
            heard = p.hears()
            assert sorted(heard) == sorted(set(NAMES) - {p.name})
            for q in people:
                if q is not p:
                    assert heard[q.name] == pytest.approx(q.tone_hz, abs=2)
        assert shape(lab.graph()) == before  # the lab still knows its room
        assert all(not d["signaling"] for n, d in lab.graph().nodes(data=True)
                   if d["kind"] == "python")


async def test_a_labs_handler_runs_in_every_browser_here_and_joining_later():
    heard: list[tuple[str, str]] = []

    def left(me, data):
        heard.append((me.name, data["socketId"]))

    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        lab.on("userLeftVoice", left)  # Alice is here already; Bob and Charlie join later
        await lab.join("Bob", voice=True)
        charlie = await lab.join("Charlie", voice=True)
        await lab.wait_connected()
        sid = charlie.sid
        await charlie.leave_voice()
        await alice.wait_until(lambda: len(heard) == 2, 5, "both heard Charlie leave")
        assert sorted(heard) == [("Alice", sid), ("Bob", sid)]
        lab.on("userLeftVoice", None)  # talklab's own again
        assert "userLeftVoice" not in alice.overrides
        with pytest.raises(ValueError, match="not an event the server sends"):
            lab.on("userJoinedvoice", left)
        with pytest.raises(TypeError, match="a handler is a function"):
            lab.on("userLeftVoice", "left")


async def test_a_leave_voice_interrupted_at_any_point_is_finished_by_running_it_again():
    """00's learner interrupted `leave_voice` and the room stayed wrong until the next run: the
    server had let go of the seat, the calls had not, and a second leave returned at once."""
    for turns in range(0, 12, 2):  # cancel after 0, 2, 4, ... turns of the loop
        async with Lab() as lab:
            alice = await lab.join("Alice", voice=True)
            bob = await lab.join("Bob", voice=True)
            await lab.wait_connected()
            calls = list(alice.links.values())
            leaving = asyncio.ensure_future(alice.leave_voice())
            for _ in range(turns):
                await asyncio.sleep(0)
            leaving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leaving
            await alice.leave_voice()  # what the learner does: run the cell again
            assert not alice.in_voice and alice.links == {}
            assert all(call.closed for call in calls)
            await bob.wait_until(lambda b=bob: not b.links, 10, "Bob's call with Alice closed")
