"""The seed's full mesh, live: real aiortc peers signaled through the real server, heard; and
the room as a graph (talklab/lab/mesh.py), read from stand-in people without a socket."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

import pytest

import talklab
from talklab import Lab, VoiceError
from talklab.browser.person import PersonClosed
from talklab.browser.room import RoomView
from talklab.lab.mesh import calls_missing, room_graph


def relayed(lab: Lab, event: str, *, to=None, by=None) -> list:
    """What the server relayed: ``event`` entries going out to ``to`` or coming in from ``by``."""
    entries = [e for e in lab.trace if e.event == event]
    if to is not None:
        return [e for e in entries if e.from_ == "server" and e.to == to.sid]
    return [e for e in entries if e.to == "server" and e.from_ == by.sid]


def assert_hears(listener, speakers, tolerance=2.0):
    heard = listener.hears()
    for s in speakers:
        assert heard.get(s.name) == pytest.approx(s.tone_hz, abs=tolerance), (listener.name, heard)


async def wait_heard(people, seconds=1.0, timeout=10):
    await asyncio.gather(*(p.wait_heard(seconds, timeout) for p in people))


async def test_dave_joins_a_room_of_three():
    async with Lab() as lab:
        alice, bob, charlie = [await lab.join(n, voice=True) for n in ("Alice", "Bob", "Charlie")]
        await lab.wait_connected(10)
        assert lab.graph().number_of_edges() == 3

        dave = await lab.join("Dave")  # in the room, not yet in voice
        assert not dave.links and not dave.in_voice
        assert await dave.join_voice() == ["Alice", "Bob", "Charlie"]
        await lab.wait_connected(10)

        # Exactly three offers reached Dave, from the three; three answers went back.
        offers = relayed(lab, "webrtc-offer", to=dave)
        assert sorted(e.peer_name for e in offers) == ["Alice", "Bob", "Charlie"]
        answers = relayed(lab, "webrtc-answer", by=dave)
        assert sorted(e.peer_name for e in answers) == ["Alice", "Bob", "Charlie"]
        assert len(relayed(lab, "webrtc-offer", by=dave)) == 0
        assert {link.role for link in dave.links.values()} == {"answerer"}
        assert sorted(link.remote_name for link in dave.links.values()) == [
            "Alice", "Bob", "Charlie"]
        for old in (alice, bob, charlie):
            assert old.link_to("Dave").role == "offerer"
            # candidates trickled both ways through the server
            assert relayed(lab, "webrtc-ice-candidate", to=old)

        # The mesh: 4 people, 6 links, every one connected (and so has carried audio).
        g = lab.graph()
        assert g.number_of_nodes() == 4 and g.number_of_edges() == 6
        assert {d["state"] for _, _, d in g.edges(data=True)} == {"connected"}
        assert {d["route"] for _, _, d in g.edges(data=True)} == {"host"}

        # Dave hears all three tones; each of them hears Dave.
        await wait_heard([alice, bob, charlie, dave])
        assert_hears(dave, [alice, bob, charlie])
        for old in (alice, bob, charlie):
            assert_hears(old, [dave])
        assert len({p.tone_hz for p in lab.people.values()}) == 4

        stats = await dave.stats()
        assert set(stats) == {"Alice", "Bob", "Charlie"}
        for s in stats.values():
            assert s["packets_received"] > 0 and s["state"] == "connected"
            assert {"packets_lost", "jitter"} <= set(s)

        # Each link tells the seed's story in order.
        steps = dave.link_to("Alice").steps()
        for earlier, later in [("offer received", "answer sent"),
                               ("answer sent", "connection connected"),
                               ("connection connected", "first audio frame")]:
            assert steps.index(earlier) < steps.index(later), steps
        assert "answer received" in alice.link_to("Dave").steps()


async def test_the_seventh_is_refused_and_opens_nothing():
    async with Lab() as lab:
        people = [await lab.join(f"P{i}", voice=True) for i in range(6)]
        await lab.wait_connected(15)
        seventh = await lab.join("Seventh")
        with pytest.raises(VoiceError, match="Voice channel is full!"):
            await seventh.join_voice()
        assert not seventh.in_voice and seventh.links == {}
        assert all(len(p.links) == 5 for p in people)
        assert not relayed(lab, "webrtc-offer", to=seventh)
        with pytest.raises(VoiceError):
            await lab.join("Eighth", voice=True)
        assert "Eighth" not in lab.people
        assert lab.graph().number_of_edges() == 15


async def test_leaving_and_hanging_up_remove_links_and_free_the_seat():
    async with Lab(voice_cap=3) as lab:
        alice, bob, charlie = [await lab.join(n, voice=True) for n in ("Alice", "Bob", "Charlie")]
        await lab.wait_connected(10)
        dave = await lab.join("Dave")
        with pytest.raises(VoiceError):
            await dave.join_voice()

        # Bob leaves voice politely: every other person drops its link to him.
        await bob.leave_voice()
        assert bob.links == {} and not bob.in_voice
        for p in (alice, charlie):
            await p.wait_until(lambda p=p: "Bob" not in [k.remote_name for k in p.links.values()],
                               5, "link to Bob closed")
        # The freed seat can be taken.
        await dave.join_voice()
        await lab.wait_connected(10)
        g = lab.graph()
        assert sorted(map(sorted, g.edges())) == [["Alice", "Charlie"], ["Alice", "Dave"],
                                                  ["Charlie", "Dave"]]
        assert not g.nodes["Bob"]["in_voice"] and g.nodes["Bob"]["in_room"]

        # Charlie hangs up abruptly (closes the tab): the server tells the others.
        await charlie.close()
        for p in (alice, dave):
            await p.wait_until(lambda p=p: len(p.links) == 1, 5, "link to Charlie closed")
        assert "Charlie" not in lab.graph()
        await bob.join_voice()  # and that seat is free again
        await lab.wait_connected(10)
        await wait_heard([alice, bob, dave])
        assert_hears(bob, [alice, dave])


async def test_someone_who_was_there_first_can_leave_and_come_back():
    async with Lab() as lab:
        alice, bob = await lab.join("Alice", voice=True), await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        await alice.leave_voice()   # Bob joined after Alice: she is "before him" ...
        await bob.wait_until(lambda: not bob.links, 5, "link to Alice closed")
        await alice.join_voice()    # ... until she leaves; now she is the newcomer
        await lab.wait_connected(10)
        assert bob.link_to("Alice").role == "offerer"


async def test_a_new_lab_replaces_the_previous_one():
    first = await Lab()
    alice = await first.join("Alice", voice=True)
    port = first.server.port
    second = await Lab()  # what re-running a notebook cell does
    try:
        assert Lab.current is second and first.people == {}
        assert not alice.sio.connected and alice.stream.audio.readyState == "ended"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # the old port is closed
        bob = await second.join("Bob", voice=True)
        assert bob.in_voice
    finally:
        await second.close()
    assert Lab.current is None
    await second.close()  # closing twice is harmless


async def test_a_lab_in_an_async_with_block_replaces_nothing():
    outer = await Lab()
    try:
        async with Lab() as inner:
            await inner.join("Temp", voice=True)
        assert Lab.current is outer and outer._started
        assert (await outer.join("Alice", voice=True)).in_voice
    finally:
        await outer.close()


async def test_gathering_uses_the_persons_own_loopback_address():
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        pair = talklab.ice.selected_pair(alice.link_to("Bob").pc)
        assert pair.local_candidate.host == alice.address
        assert pair.remote_candidate.host == bob.address
        assert alice.address != bob.address and alice.address.startswith("127.")
        assert alice.link_to("Bob").route == "host"


async def test_people_joining_voice_at_the_same_moment_still_make_one_mesh():
    """Near-simultaneous joins: each pair must get exactly one offer (no glare)."""
    async with Lab() as lab:
        people = [await lab.join(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")]
        await asyncio.gather(*(p.join_voice() for p in people))
        await lab.wait_connected(15)
        g = lab.graph()
        assert g.number_of_edges() == 10
        assert {d["state"] for _, _, d in g.edges(data=True)} == {"connected"}
        offers = [e for e in lab.trace if e.event == "webrtc-offer" and e.to == "server"]
        pairs = [frozenset((e.from_, e.peer)) for e in offers]
        assert len(pairs) == len(set(pairs)) == 10
        assert all(link.error is None for p in people for link in p.links.values())


async def test_joining_again_is_harmless():
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        assert await lab.join("Alice", voice=True) is alice  # a re-run notebook cell
        assert set(await alice.join_voice()) <= {"Bob"}
        await lab.wait_connected(10)
        assert len(lab.people) == 2 and lab.graph().number_of_edges() == 1


async def test_joining_again_with_other_settings_rejoins_with_them():
    async with Lab(stun=True) as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        # an edited notebook cell: same name, a NAT now
        moved = await lab.join("Alice", nat="full-cone", voice=True)
        assert moved is not alice and moved.nat == "full-cone" and alice.closed
        await lab.wait_connected(10)
        assert bob.link_to("Alice").route in ("srflx", "prflx")
        with pytest.raises(PersonClosed, match=r"Alice is gone .*rejoined with new settings"):
            await alice.join_voice()
        elsewhere = await lab.join("Alice", room="ELSEWHERE")
        assert elsewhere.room == "ELSEWHERE" and moved.closed
        assert sorted(lab.people) == ["Alice", "Bob"]


# -- the room as a graph, from what each person knows: no lab, no socket ----------------------
ROOM = "ABCD12"


def stand_in(name, sid, told, links=None, in_voice=True):
    """A person as the graph reads one: what the server told them of the room (``told``:
    ``(sid, name, in voice)`` each, through a real RoomView) and their calls, by socket id."""
    view = RoomView()
    view.apply("roomJoined", {"room": ROOM, "socketId": sid, "members": [
        {"socketId": s, "userId": f"user-{n.lower()}", "username": n, "inVoice": v}
        for s, n, v in told]})
    return SimpleNamespace(name=name, sid=sid, room=ROOM, in_voice=in_voice, closed=False,
                           tone_hz=440.0, nat=None, signaling=True, view=view,
                           links=dict(links or {}))


def call(state, route=None, connection=None):
    """One call as its person sees it: talklab's state, the route, the connection's state."""
    return SimpleNamespace(state=state, route=route, closed=state == "closed",
                           pc=SimpleNamespace(connectionState=connection or state))


def test_a_call_is_drawn_once_no_better_than_its_worse_side():
    both = [("a", "Alice", True), ("b", "Bob", True)]
    alice = stand_in("Alice", "a", both, {"b": call("connected", "host")})
    bob = stand_in("Bob", "b", both, {"a": call("connecting")})  # not heard Alice yet
    for people in ([alice, bob], [bob, alice]):  # whichever side is read first
        graph = room_graph(people)
        assert sorted(graph.nodes) == ["Alice", "Bob"] and graph.number_of_edges() == 1
        assert dict(graph.edges["Alice", "Bob"]) == {"state": "connecting", "route": "host"}
        assert graph.nodes["Bob"]["kind"] == "python" and graph.nodes["Bob"]["in_voice"]


def test_someone_the_lab_did_not_make_is_drawn_from_what_its_people_were_told():
    told = [("a", "Alice", True), ("e", "Eve", True), ("xyz123", "Alice", False)]
    graph = room_graph([stand_in("Alice", "a", told, {"e": call("connected", "srflx")})])
    eve = graph.nodes["Eve"]
    assert (eve["kind"], eve["in_voice"], eve["tone_hz"]) == ("browser", True, None)
    assert graph.edges["Alice", "Eve"]["route"] == "srflx"
    other = graph.nodes["Alice (xyz1)"]  # a second Alice, told apart by her socket id
    assert other["kind"] == "browser" and not other["in_voice"]


def test_a_call_hung_up_is_not_drawn():
    both = [("a", "Alice", True), ("b", "Bob", True)]
    graph = room_graph([stand_in("Alice", "a", both, {"b": call("closed")}),
                        stand_in("Bob", "b", both)])
    assert sorted(graph.nodes) == ["Alice", "Bob"] and graph.number_of_edges() == 0


def test_the_calls_missing_are_owed_to_everyone_in_voice_as_anyone_knows_it():
    """Carol's joining voice has reached Bob, not Alice yet: Alice owes her a call all the same;
    Dan, in the room but not in voice, is owed none and owes none."""
    three = [("a", "Alice", True), ("b", "Bob", True), ("c", "Carol", True), ("d", "Dan", False)]
    alice = stand_in("Alice", "a", three[:2] + three[3:], {"b": call("connecting")})
    bob = stand_in("Bob", "b", three, {"a": call("connected", "host"),
                                        "c": call("connected", "host")})
    carol = stand_in("Carol", "c", three, {"b": call("connected", "host")})
    dan = stand_in("Dan", "d", three, in_voice=False)
    everyone = [alice, bob, carol, dan]
    missing = {(p.name, sid, state) for p, sid, state in calls_missing(everyone, everyone)}
    assert missing == {("Alice", "b", "connecting"), ("Alice", "c", "new"), ("Carol", "a", "new")}
