"""The package's side of issue 13: the Lab holds its server's trace token, and talklab's clients
drop notices about a room they have left (the ``room`` field every notice carries).

The stale notices here are real Socket.IO packets from the lab's real server, addressed to one
socket, as a notice from the room someone just left arrives through another server in Redis
mode (``tests/test_redis_survival.py`` races that for real; the server drops them there too).
"""

from __future__ import annotations

import aiohttp

from talklab import Lab, SignalingClient
from talklab.views.sequence import story


async def test_the_lab_holds_the_trace_token_and_its_views_read_the_trace():
    async with Lab() as lab:
        await lab.join("Alice", "MATHS")
        await lab.join("Bob", "MATHS")
        assert lab.trace_token == lab.server.token and len(lab.trace_token) >= 24
        async with aiohttp.ClientSession() as http:
            async with http.get(lab.url + "/trace") as anonymous:
                assert anonymous.status == 401  # nobody else reads who is where
            async with http.get(lab.url + "/trace",
                                params={"token": lab.trace_token, "room": "MATHS"}) as page:
                assert page.status == 200
                entries = (await page.json())["entries"]
        assert sum(e["event"] == "roomJoined" for e in entries) == 2, entries[:3]
        assert {e["room"] for e in entries} == {"MATHS"}
        # In the notebook, the views read the trace in-process: no token needed, and the
        # sequence of the room is there.
        assert sum(e.event == "roomJoined" for e in lab.trace) == 2
        assert story(lab, ["Alice", "Bob"]), "story() drew nothing"


async def stale_notices_to(lab: Lab, sid: str) -> None:
    """A notice of each kind about ROOM-A (left), then a control notice about the room now."""
    stranger = {"socketId": "stranger-sid", "username": "Mallory", "userId": "u-mallory"}
    for event in ("userJoinedRoom", "userJoinedVoice", "userLeftVoice", "userLeftRoom"):
        await lab.server.app.sio.emit(event, {**stranger, "room": "ROOM-A"}, to=sid)


async def test_a_person_drops_notices_about_a_room_it_has_left():
    async with Lab() as lab:
        alice = await lab.join("Alice", "ROOM-A")
        bob = await lab.join("Bob", "ROOM-B", voice=True)
        await alice.join_room("ROOM-B")
        await alice.join_voice()
        stale: list = []
        lab.events.subscribe(lambda e: stale.append(e) if e.kind == "stale-notice" else None)
        await stale_notices_to(lab, alice.sid)
        carol = await lab.join("Carol", "ROOM-B")  # a notice about ROOM-B: applied
        await alice.wait_until(lambda: carol.sid in alice.members, 5, "Carol's userJoinedRoom")
        assert len(stale) == 4 and {e["room"] for e in stale} == {"ROOM-A"}
        assert "stranger-sid" not in alice.members  # not put in ROOM-B
        assert "stranger-sid" not in alice.links  # no offer to someone in another room
        assert set(alice.voice_members) == {bob.sid}
        assert not [e for e in alice.errors if e.get("event") == "webrtc-offer"]


async def test_the_signaling_client_keeps_stale_notices_apart():
    async with Lab() as lab:
        client = await SignalingClient("Alice").connect(lab.url)
        try:
            await client.emit("joinRoom", {"room": "ROOM-A", "username": "Alice"})
            await client.next("roomJoined")
            await client.emit("joinRoom", {"room": "ROOM-B", "username": "Alice"})
            await client.next("roomJoined", where=lambda d: d["room"] == "ROOM-B")
            assert client.room == "ROOM-B"
            await stale_notices_to(lab, client.sid)
            await lab.join("Carol", "ROOM-B")
            joined = await client.next("userJoinedRoom")
            assert joined["username"] == "Carol" and joined["room"] == "ROOM-B"
            assert [e for e, _ in client.stale] == ["userJoinedRoom", "userJoinedVoice",
                                                    "userLeftVoice", "userLeftRoom"]
            assert not [d for e, d in client.received if isinstance(d, dict)
                        and d.get("room") == "ROOM-A" and e.startswith("user")]
        finally:
            await client.close()
