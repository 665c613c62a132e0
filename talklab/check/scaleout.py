"""Notebook 10's question and code exercise: several signaling servers, one set of rooms.

The exercise: the learner writes the rule a load balancer uses to pick a signaling server for
each visitor, from what it sees of their request (the room the browser page asks for in its
URL, the name, the visitor's address). :func:`server_for` runs it live: three rooms of three
people each connect through two real signaling servers sharing rooms in Redis, every pair
exchanges an offer, and the check counts how many messages had to cross from one server to the
other through Redis. Routing by room, none do.

Tested in tests/test_exercises_10.py (notebook 10's question, and its exercise run live with the
answer key, the stub and the usual rules).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Spec, Whole, question

__all__ = ["calls_across", "server_for"]
ROOMS = ("MATHS", "MUSIC", "CHESS")
PEOPLE = ("Ann", "Ben", "Cat")
OFFER = {"type": "offer", "sdp": "v=0\r\ns=routing\r\n"}


@question(Whole())
def calls_across(people: int = 6, servers: int = 2) -> Spec:
    """The ``people`` of one room are spread over ``servers`` servers one by one (the first
    on server 1, the second on server 2, ...). How many of the room's calls connect two people
    on different servers (whose messages all cross through Redis)?"""
    per = [people // servers + (1 if i < people % servers else 0) for i in range(servers)]
    same = sum(n * (n - 1) // 2 for n in per)
    expected = people * (people - 1) // 2 - same

    def hint(given: Any) -> str:
        if given == same:
            return "that many calls stay on one server; the question is about the others."
        return ("count all the room's calls (one per pair), then take away the pairs whose "
                "two people sit on the same server.")
    return Spec(expected, f"{people * (people - 1) // 2} calls in all; {same} have both people "
                f"on one server; the other {expected} cross.", hint)


async def server_for(function: Any) -> Feedback:
    """Run your ``server_for(request, servers) -> int`` as the load balancer of two real
    signaling servers sharing rooms through Redis. ``request`` is ``{"room", "name",
    "address"}``: what a load balancer sees of a visitor."""
    import shutil
    if shutil.which("redis-server") is None:
        return Feedback(NOT_YET, "this exercise runs two servers on a real Redis, and "
                        "redis-server is not installed here (on Binder: apt.txt).")
    return await run(function, _live, name="server_for", timeout=40)


def _requests() -> list[dict[str, str]]:
    return [{"room": room, "name": name, "address": f"127.10.{r}.{p + 1}"}
            for r, room in enumerate(ROOMS) for p, name in enumerate(PEOPLE)]


async def _live(function: Any) -> Feedback:
    choices: list[int] = []
    spread = [{"room": f"ROOM{i}", "name": "Zoe", "address": "127.10.9.9"} for i in range(12)]
    for request in _requests() + spread:
        choice = await call(function, dict(request), 2)
        if not isinstance(choice, int) or isinstance(choice, bool) or not 0 <= choice < 2:
            return Feedback(NOT_YET, f"for {request} your function gave {choice!r}: it must "
                            "give a server's number, 0 or 1 when there are 2 servers.")
        if await call(function, dict(request), 2) != choice:
            return Feedback(NOT_YET, f"{request} got two different servers when asked twice: "
                            "a visitor's server must depend only on what the request says.")
        choices.append(choice)
    used = set(choices[len(_requests()):])
    if choices == [hash(r["room"]) % 2 for r in _requests() + spread]:
        return Feedback(NOT_YET, "your servers follow Python's own hash() of the room. Run "
                        "this notebook again tomorrow, or run two load balancers: would "
                        "hash('MATHS') be the same number in each process? (Python salts the "
                        "hash of a str per process, PYTHONHASHSEED.) The rule must give the "
                        "same server wherever and whenever it runs.")
    crossed, delivered, expected = await _storm(choices[:len(_requests())])
    if delivered < expected:
        return Feedback(NOT_YET, f"only {delivered} of {expected} offers arrived: the servers "
                        "or Redis are in trouble, not your function. Run the check again.")
    if crossed:
        return Feedback(NOT_YET, f"{crossed} of {expected} offers had to cross from one "
                        "server to the other through Redis. What do all the people of one room "
                        "have in common when they arrive?")
    if len(used) < 2 and await _splits_a_room(function):  # (these visitors fell on one server)
        return Feedback(NOT_YET, "nothing crossed here, but only because these visitors all "
                        "fell on one server: your rule sends people of one room to different "
                        "servers when their names or addresses differ. It looks at who "
                        "arrives, not where they are going; what do all the people of one room "
                        "have in common when they arrive?")
    if len(used) < 2:
        return Feedback(NOT_YET, "every room lands on the same server: nothing crosses, but the "
                        "other server has nothing to do. Spread the rooms over the servers.")
    return Feedback(RIGHT, f"every room's people on one server: {expected} offers, none "
                    "through Redis, and the rooms spread over both servers.")


async def _splits_a_room(function: Any) -> bool:
    """Does the rule send the people of one room to different servers (it follows the name or
    the address)? Tried on a room of twelve varied visitors, a pure question: no servers."""
    visitors = [{"room": "MATHS", "name": f"Student{i}", "address": f"192.0.2.{7 * i + 3}"}
                for i in range(12)]
    return len({await call(function, dict(v), 2) for v in visitors}) > 1


async def _storm(servers_of: list[int]) -> tuple[int, int, int]:
    """Three rooms of three, each person on the server chosen for their request; every pair
    exchanges an offer. Returns (offers that crossed servers, offers delivered, offers sent)."""
    from talklab.browser.signaling import SignalingClient
    from talklab.lab.redis_server import RedisServer
    from talklab.server import SignalingServer

    async with RedisServer() as redis:
        servers = [SignalingServer(redis_url=redis.url(5)) for _ in range(2)]
        clients: list[SignalingClient] = []
        try:
            for server in servers:  # (inside: an interrupted start closes what did start)
                await server.start()
            by_room: dict[str, list[SignalingClient]] = {}
            for request, index in zip(_requests(), servers_of, strict=True):
                room, name = request["room"], request["name"]
                c = await SignalingClient(f"{name} ({room})").connect(servers[index].url)
                clients.append(c)
                await c.emit("joinRoom", {"room": room, "username": name})
                await c.next("roomJoined")
                await c.emit("joinVoice", {"room": room})
                await c.next("voiceJoined")
                by_room.setdefault(room, []).append(c)
            def forwarded() -> int:
                return sum(getattr(s.app.store, "forwarded", 0) for s in servers)
            before, sent = forwarded(), 0  # (joins cross too: count the offers only)
            for people in by_room.values():
                for a in people:
                    for b in people:
                        if a is not b:
                            await a.emit("webrtc-offer", {"offer": OFFER, "to": b.sid})
                            sent += 1
            delivered = 0
            for people in by_room.values():
                for c in people:
                    for _ in range(len(people) - 1):
                        with contextlib.suppress(TimeoutError):
                            await c.next("webrtc-offer", timeout=5)
                            delivered += 1
            return forwarded() - before, delivered, sent
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            for server in servers:
                await server.close()
