"""The signaling server, driven by real python-socketio clients over loopback (every test on
both WebSocket paths: talklab's own loop and python-engineio's)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import pytest
from server_fixtures import server_process

from talklab.browser.signaling import SignalingClient
from talklab.server import VOICE_FULL_MESSAGE, SignalingServer
from talklab.server.payloads import InvalidPayload

ROOM = "ABCD12"
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n"}


def cand(n: int) -> dict:
    return {"candidate": f"candidate:{n} 1 udp 2130706431 127.0.0.1 {5000 + n} typ host",
            "sdpMid": "0", "sdpMLineIndex": 0}


async def in_room(clients, *names, room=ROOM):
    people = await clients(*names)
    for c in people:
        await c.emit("joinRoom", {"room": room, "username": c.name})
        await c.next("roomJoined")
    return people


async def in_voice(clients, *names, room=ROOM):
    people = await in_room(clients, *names, room=room)
    for c in people:
        await c.emit("joinVoice", {"room": room})
        await c.next("voiceJoined")
    return people


async def test_join_room_tells_the_joiner_and_the_others(clients):
    alice, bob = await clients("Alice", "Bob")
    await alice.emit("joinRoom", {"room": ROOM, "username": "Alice"})
    joined = await alice.next("roomJoined")
    assert joined["room"] == ROOM and joined["socketId"] == alice.sid
    assert [m["username"] for m in joined["members"]] == ["Alice"]
    await bob.emit("joinRoom", {"room": ROOM, "username": "Bob", "userId": "user-bob"})
    joined = await bob.next("roomJoined")
    assert joined["members"] == [
        {"socketId": alice.sid, "userId": joined["members"][0]["userId"], "username": "Alice",
         "inVoice": False},
        {"socketId": bob.sid, "userId": "user-bob", "username": "Bob", "inVoice": False},
    ]
    assert await alice.next("userJoinedRoom") == {
        "socketId": bob.sid, "userId": "user-bob", "username": "Bob", "room": ROOM}


async def test_dave_joins_a_room_of_three(clients, server):
    """The seed's scenario, with the exact payloads of Steps 2-8."""
    alice, bob, charlie = await in_voice(clients, "Alice", "Bob", "Charlie")
    (dave,) = await in_room(clients, "Dave")
    dave_id = next(m["userId"] for m in await server.members(ROOM) if m["username"] == "Dave")

    # Step 2: Dave joins voice; the three already in voice hear about it.
    await dave.emit("joinVoice", {"room": ROOM})
    joined = await dave.next("voiceJoined")
    assert joined["room"] == ROOM
    assert [p["socketId"] for p in joined["peers"]] == [alice.sid, bob.sid, charlie.sid]
    for old in (alice, bob, charlie):
        assert await old.next("userJoinedVoice", where=lambda e: e["username"] == "Dave") == {
            "socketId": dave.sid, "userId": dave_id, "username": "Dave", "room": ROOM}

    # Steps 3-4: each sends Dave an offer; the server stamps `from`.
    for old in (alice, bob, charlie):
        await old.emit("webrtc-offer", {"offer": OFFER, "to": dave.sid})
    offers = [await dave.next("webrtc-offer") for _ in range(3)]
    # Dave learns he is in voice before any offer reaches him (his socket delivers in order).
    events = [e for e, _ in dave.received]
    assert events.index("voiceJoined") < events.index("webrtc-offer")
    assert sorted(o["from"] for o in offers) == sorted([alice.sid, bob.sid, charlie.sid])
    assert all(o == {"offer": OFFER, "from": o["from"]} for o in offers)

    # Steps 5-6: Dave answers each.
    for o in offers:
        await dave.emit("webrtc-answer", {"answer": ANSWER, "to": o["from"]})
    for old in (alice, bob, charlie):
        assert await old.next("webrtc-answer") == {"answer": ANSWER, "from": dave.sid}

    # Step 8: candidates both ways, end-of-candidates included.
    for i, old in enumerate((alice, bob, charlie)):
        await dave.emit("webrtc-ice-candidate", {"candidate": cand(i), "to": old.sid})
        await old.emit("webrtc-ice-candidate", {"candidate": cand(10 + i), "to": dave.sid})
        assert await old.next("webrtc-ice-candidate") == {"candidate": cand(i), "from": dave.sid}
    got = [await dave.next("webrtc-ice-candidate") for _ in range(3)]
    assert {g["from"]: g["candidate"] for g in got} == {
        alice.sid: cand(10), bob.sid: cand(11), charlie.sid: cand(12)}
    end = {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}
    await dave.emit("webrtc-ice-candidate", {"candidate": end, "to": alice.sid})
    assert await alice.next("webrtc-ice-candidate") == {"candidate": end, "from": dave.sid}

    # Nobody got anything meant for someone else.
    assert bob.all("webrtc-answer") == [{"answer": ANSWER, "from": dave.sid}]
    assert alice.all("webrtc-offer") == [] and alice.all("signalingError") == []


async def test_seventh_gets_voice_channel_is_full(clients, server):
    people = await in_voice(clients, *[f"P{i}" for i in range(6)])
    (seventh,) = await in_room(clients, "Seventh")
    await seventh.emit("joinVoice", {"room": ROOM})
    assert await seventh.next("voiceError") == {"message": VOICE_FULL_MESSAGE}
    members = await server.members(ROOM)
    assert sum(m["inVoice"] for m in members) == 6
    assert not next(m for m in members if m["socketId"] == seventh.sid)["inVoice"]
    # Nobody was told about a seventh.
    for p in people:
        assert seventh.sid not in [e["socketId"] for e in p.all("userJoinedVoice")]


async def test_seven_concurrent_joins_admit_exactly_six(clients, server):
    people = await in_room(clients, *[f"P{i}" for i in range(7)])
    await asyncio.gather(*(p.emit("joinVoice", {"room": ROOM}) for p in people))

    async def outcome(p):
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(p.next("voiceJoined")),
             asyncio.ensure_future(p.next("voiceError"))],
            timeout=5, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        return "joined" if "peers" in done.pop().result() else "full"

    results = await asyncio.gather(*(outcome(p) for p in people))
    assert sorted(results) == ["full"] + ["joined"] * 6
    assert sum(m["inVoice"] for m in await server.members(ROOM)) == 6


async def test_voice_cap_is_a_setting(fast_path):
    async with SignalingServer(voice_cap=2, fast_path=fast_path) as srv:
        people = [await SignalingClient(n).connect(srv.url) for n in "ABC"]
        for p in people:
            await p.emit("joinRoom", {"room": "R", "username": p.name})
            await p.next("roomJoined")
            await p.emit("joinVoice", {"room": "R"})
        await people[0].next("voiceJoined")
        await people[1].next("voiceJoined")
        assert await people[2].next("voiceError") == {"message": VOICE_FULL_MESSAGE}
        for p in people:
            await p.close()


async def test_relays_stay_inside_one_rooms_voice_channel(clients, server):
    alice, bob = await in_voice(clients, "Alice", "Bob")
    (eve,) = await in_voice(clients, "Eve", room="OTHER")
    (mallory,) = await in_room(clients, "Mallory")  # same room, not in voice

    # Across rooms: refused, nothing relayed.
    await eve.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    err = await eve.next("signalingError")
    assert err["event"] == "webrtc-offer" and "no member" in err["message"]
    # From someone not in voice.
    await mallory.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    assert "not in voice" in (await mallory.next("signalingError"))["message"]
    # To someone not in voice.
    await alice.emit("webrtc-ice-candidate", {"candidate": cand(1), "to": mallory.sid})
    assert "not in voice" in (await alice.next("signalingError"))["message"]
    # To an unknown socket, and to oneself.
    await alice.emit("webrtc-answer", {"answer": ANSWER, "to": "nobody"})
    await alice.next("signalingError")
    await alice.emit("webrtc-answer", {"answer": ANSWER, "to": alice.sid})
    assert "yourself" in (await alice.next("signalingError"))["message"]

    # The legitimate relay still works, and is the only thing anyone received.
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    assert await alice.next("webrtc-offer") == {"offer": OFFER, "from": bob.sid}
    assert alice.all("webrtc-offer") == [{"offer": OFFER, "from": bob.sid}]
    assert mallory.all("webrtc-ice-candidate") == [] and eve.all("webrtc-answer") == []


MALFORMED = [
    ("joinRoom", None),
    ("joinRoom", "ABCD12"),
    ("joinRoom", [1, 2]),
    ("joinRoom", {}),
    ("joinRoom", {"room": "ABCD12"}),
    ("joinRoom", {"username": "X"}),
    ("joinRoom", {"room": "", "username": "X"}),
    ("joinRoom", {"room": "has space", "username": "X"}),
    ("joinRoom", {"room": "x" * 33, "username": "X"}),
    ("joinRoom", {"room": 12, "username": "X"}),
    ("joinRoom", {"room": "R", "username": "x" * 65}),
    ("joinRoom", {"room": "R", "username": "   "}),
    ("joinRoom", {"room": "R", "username": "a\x00b"}),
    ("joinRoom", {"room": "R", "username": "X", "userId": 5}),
    ("joinVoice", None),
    ("joinVoice", {"room": None}),
    ("joinVoice", {"room": "../etc"}),
    ("joinVoice", {"room": "NOTMINE"}),
    ("leaveVoice", {"room": "ABCD12"}),  # not in voice
    ("webrtc-offer", {"offer": OFFER}),
    ("webrtc-offer", {"to": "x"}),
    ("webrtc-offer", {"offer": "v=0", "to": "x"}),
    ("webrtc-offer", {"offer": {"type": "answer", "sdp": "v=0"}, "to": "x"}),
    ("webrtc-offer", {"offer": {"type": "offer", "sdp": "hello"}, "to": "x"}),
    ("webrtc-offer", {"offer": {"type": "offer", "sdp": "v=0" + "a" * 70_000}, "to": "x"}),
    ("webrtc-offer", {"offer": {"type": "offer"}, "to": "x"}),
    ("webrtc-answer", {"answer": {"type": "answer", "sdp": "v=0"}, "to": 42}),
    ("webrtc-answer", {"answer": {"type": "answer", "sdp": "v=0"}, "to": ""}),
    ("webrtc-ice-candidate", {"candidate": "candidate:1 1 udp 1 127.0.0.1 1 typ host",
                              "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": {"candidate": "x" * 3000, "sdpMid": "0"}, "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": {"candidate": "not a candidate", "sdpMid": "0"},
                              "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": {"candidate": ""}, "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": {"candidate": "", "sdpMLineIndex": "0"}, "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": {"candidate": "", "sdpMLineIndex": True}, "to": "x"}),
    ("webrtc-ice-candidate", {"candidate": None, "to": "x"}),
    ("no-such-event", {"room": "ABCD12"}),
]


@pytest.mark.parametrize("event,payload", MALFORMED, ids=[f"{i}-{e}" for i, (e, _) in
                                                          enumerate(MALFORMED)])
async def test_malformed_payload_is_refused_and_changes_nothing(clients, server, event, payload):
    alice, bob = await in_voice(clients, "Alice", "Bob")
    (carol,) = await in_room(clients, "Carol")
    before = await server.members(ROOM)

    await carol.emit(event, payload)
    err = await carol.next("signalingError")
    assert err["event"] == event and isinstance(err["message"], str) and err["message"]
    assert await server.members(ROOM) == before
    assert sum(m["inVoice"] for m in before) == 2

    # The server still serves correctly, and leaked nothing to the others.
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    assert await alice.next("webrtc-offer") == {"offer": OFFER, "from": bob.sid}
    await carol.emit("joinVoice", {"room": ROOM})
    assert [p["username"] for p in (await carol.next("voiceJoined"))["peers"]] == ["Alice", "Bob"]
    assert alice.all("signalingError") == [] and bob.all("signalingError") == []


async def test_many_malformed_in_a_row_then_the_dave_scenario_still_works(clients, server):
    (troll,) = await in_room(clients, "Troll")
    for event, payload in MALFORMED:
        await troll.emit(event, payload)
    for event, _ in MALFORMED:
        assert (await troll.next("signalingError"))["event"] == event
    await test_dave_joins_a_room_of_three(clients, server)


async def test_leave_voice_and_disconnect_free_the_seat(clients, server):
    people = await in_voice(clients, *[f"P{i}" for i in range(6)])
    (late,) = await in_room(clients, "Late")

    await people[0].emit("leaveVoice", {"room": ROOM})
    assert await people[0].next("voiceLeft") == {"room": ROOM}
    for p in people[1:]:
        assert await p.next("userLeftVoice") == {"socketId": people[0].sid, "room": ROOM}
    await late.emit("joinVoice", {"room": ROOM})
    assert await late.next("voiceJoined")

    # An abrupt disconnect: voice first, then the room; the seat is free again.
    gone = people[1]
    await gone.close()
    for p in people[2:]:
        assert await p.next("userLeftVoice") == {"socketId": gone.sid, "room": ROOM}
        assert await p.next("userLeftRoom") == {"socketId": gone.sid, "room": ROOM}
    assert gone.sid not in [m["socketId"] for m in await server.members(ROOM)]
    await people[0].emit("joinVoice", {"room": ROOM})
    assert len((await people[0].next("voiceJoined"))["peers"]) == 5


async def test_joining_another_room_leaves_the_first(clients, server):
    alice, bob = await in_voice(clients, "Alice", "Bob")
    await alice.emit("joinRoom", {"room": "ELSEWHERE", "username": "Alice"})
    assert (await alice.next("roomJoined"))["room"] == "ELSEWHERE"
    assert await bob.next("userLeftVoice") == {"socketId": alice.sid, "room": ROOM}
    assert await bob.next("userLeftRoom") == {"socketId": alice.sid, "room": ROOM}
    assert [m["username"] for m in await server.members(ROOM) if m["inVoice"]] == ["Bob"]


async def test_trace_and_health_over_http(clients, server):
    alice, bob = await in_voice(clients, "Alice", "Bob")
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    await alice.next("webrtc-offer")

    def get(path):
        with urllib.request.urlopen(server.url + path, timeout=5) as r:
            return json.load(r)

    health = await asyncio.to_thread(get, "/health")
    assert health == {"status": "ok", "rooms": 1, "members": 2, "inVoice": 2, "voiceCap": 6}
    token = server.token
    entries = (await asyncio.to_thread(get, f"/trace?token={token}&limit=1000"))["entries"]
    offer_in = [e for e in entries if e["event"] == "webrtc-offer" and e["to"] == "server"]
    offer_out = [e for e in entries if e["event"] == "webrtc-offer" and e["from"] == "server"]
    assert offer_in[-1]["from_name"] == "Bob" and offer_out[-1]["to_name"] == "Alice"
    assert offer_in[-1]["summary"].startswith("offer: SDP")
    assert offer_in[-1]["t"] <= offer_out[-1]["t"]
    assert all(e["room"] == ROOM for e in offer_in + offer_out)
    last = entries[-1]["seq"]
    assert (await asyncio.to_thread(get, f"/trace?token={token}&since={last}"))["entries"] == []
    # The same trace, in-process.
    assert [e.seq for e in server.trace][-1] == last


async def test_trace_is_bounded(fast_path):
    async with SignalingServer(trace_size=10, fast_path=fast_path) as srv:
        c = await SignalingClient("c").connect(srv.url)
        for _ in range(20):
            await c.emit("joinVoice", {"room": "R"})
        for _ in range(20):
            await c.next("signalingError")
        assert len(srv.trace) == 10
        await c.close()


def test_talklab_server_runs_alone_and_prints_its_url(fast_path):
    with server_process(fast_path=fast_path) as running:
        assert running.line.startswith("talklab signaling server on http://127.0.0.1:")
        with urllib.request.urlopen(running.url + "/health", timeout=5) as r:
            assert json.load(r)["status"] == "ok"


# -- the seed's Step 9: a server that shuts down announces nobody's leaving ----------------------
def on_disconnect(client: SignalingClient) -> asyncio.Event:
    """An event set when the server disconnects ``client``."""
    gone = asyncio.Event()
    client.sio.on("disconnect", lambda *reason: gone.set())
    return gone


async def test_a_server_shutting_down_tells_nobody_who_left(fast_path):
    """Once audio flows peer to peer the signaling server's job is done: closing it must not
    make anyone hang up on anyone. Everything a socket was sent leaves before it closes, so
    an announcement, had there been one, would have arrived before the disconnect."""
    srv = await SignalingServer(fast_path=fast_path).start()
    alice = await SignalingClient("Alice").connect(srv.url)
    bob = await SignalingClient("Bob").connect(srv.url)
    for c in (alice, bob):
        await c.emit("joinRoom", {"room": ROOM, "username": c.name})
        await c.next("roomJoined")
        await c.emit("joinVoice", {"room": ROOM})
        await c.next("voiceJoined")
    gone = [on_disconnect(c) for c in (alice, bob)]
    await srv.close()
    for c, disconnected in zip((alice, bob), gone, strict=True):
        await asyncio.wait_for(disconnected.wait(), 5)
        assert c.all("userLeftVoice") == [] and c.all("userLeftRoom") == []
        await c.close()


async def test_a_client_hanging_up_is_still_announced(clients, server):
    alice, bob = await in_voice(clients, "Alice", "Bob")
    await bob.close()
    assert await alice.next("userLeftVoice") == {"socketId": bob.sid, "room": ROOM}
    assert await alice.next("userLeftRoom") == {"socketId": bob.sid, "room": ROOM}


# -- public API: members, ICE servers -----------------------------------------------------------
async def test_members_reads_a_room_through_the_store(clients, server):
    await in_voice(clients, "Alice", "Bob")
    await in_room(clients, "Carol")
    assert [(m["username"], m["inVoice"]) for m in await server.members(ROOM)] == [
        ("Alice", True), ("Bob", True), ("Carol", False)]
    assert set((await server.members(ROOM))[0]) == {"socketId", "userId", "username", "inVoice"}
    assert await server.members("EMPTY") == []
    with pytest.raises(InvalidPayload, match="room"):
        await server.members("no spaces allowed")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


async def test_ice_servers_are_a_list_or_a_callable():
    stun = [{"urls": "stun:127.0.0.1:3478"}]
    async with SignalingServer(ice_servers=stun) as srv:
        assert (await asyncio.to_thread(get_json, srv.url + "/config"))["iceServers"] == stun
    current = [{"urls": "stun:127.0.0.1:1"}]
    async with SignalingServer(ice_servers=lambda: current) as srv:
        assert (await asyncio.to_thread(get_json, srv.url + "/config"))["iceServers"] == current
        current.append({"urls": "turn:127.0.0.1:2", "username": "u", "credential": "p"})
        config = await asyncio.to_thread(get_json, srv.url + "/config")
        assert config == {"iceServers": current, "voiceCap": 6}  # read at each request
    for bad in ("stun:127.0.0.1", [{"urls": "x"}, "y"], 5):
        with pytest.raises(TypeError, match="ice_servers"):
            SignalingServer(ice_servers=bad)
    for cap in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="voice_cap"):
            SignalingServer(voice_cap=cap)


def test_talklab_server_says_why_it_cannot_reach_redis():
    from server_fixtures import free_port
    url = f"redis://127.0.0.1:{free_port()}/3"  # nobody listens there
    run = subprocess.run([sys.executable, "-m", "talklab.server", "--port", "0", "--redis", url],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert "cannot start: cannot connect to redis 127.0.0.1" in run.stderr
    assert "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "talklab.server", "--redis", "redis://h/x"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "the database must be a number" in run.stderr
