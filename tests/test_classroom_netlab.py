"""A class across real machines: the teacher's server and each student in a network namespace
of their own, students on the school LAN and at home behind real Linux NATs (nftables).

Root only (``ip netns``); skipped with the reason where namespaces are not permitted. Every
namespace is gone afterwards, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil

import pytest

from talklab.netlab import Design, NetLab, not_permitted, shell

SCHOOL = "203.0.113.128/25"
ISP = "198.51.100.0/24"  # the homes' NATs' public addresses
NODE_DIR = pathlib.Path(__file__).parent / "node"
TONES = {"ana": 440.0, "ben": 660.0, "cy": 880.0, "dee": 550.0, "eve": 770.0}


@pytest.fixture(scope="module")
def namespaces_allowed() -> None:
    reason = not_permitted()
    if reason is not None:
        pytest.skip(reason)


def _near(hears: dict, names: list[str]) -> bool:
    return sorted(hears) == sorted(names) and all(
        abs(hears[n] - TONES[n]) < 15 for n in names)


async def _join(agents, url: str, names: list[str]) -> None:
    for name in names:  # one after another: each newcomer gets offers from those before
        joined = await agents[name].call("student.join", {
            "server": url, "name": name, "tone_hz": TONES[name]}, timeout=30)
        assert joined["joined"], joined


async def _wait_dashboard(agent, port: int, want: int, done, timeout: float = 15) -> list[dict]:
    """The teacher's dashboard, once ``done(links)`` holds for its one room's links."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        rooms = await agent.call("classroom.dashboard", {"port": port})
        links = rooms[0]["links"] if rooms else []
        if len(links) == want and done(links):
            return rooms
        if loop.time() > end:
            raise AssertionError(f"the dashboard never showed it: {rooms}")
        await asyncio.sleep(0.2)  # (polling the teacher's agent, bounded by timeout)


async def test_three_students_on_a_lan_and_behind_a_nat_hear_each_other(namespaces_allowed):
    design = Design()
    design.school("teacher")
    design.school("ana")
    design.school("ben")
    design.home("cy", nat="port-restricted")
    lab = NetLab(design.network())
    async with lab:
        teacher = await lab.agent("teacher")
        agents = dict(zip(("ana", "ben", "cy"),
                          await lab.start_agents("ana", "ben", "cy"), strict=True))
        started = await teacher.call("classroom.start", {
            "host": teacher.addresses[0], "port": 5000, "networks": [SCHOOL, ISP]})
        url = started["url"]
        assert "BEYOND LOOPBACK" in started["exposes"]
        await _join(agents, url, ["ana", "ben", "cy"])
        states = {n: await a.call("student.wait", {"others": 2, "timeout": 25}, timeout=40)
                  for n, a in agents.items()}
        for name, state in states.items():
            assert state["settled"], (name, state)
            others = [n for n in TONES if n in agents and n != name]
            assert _near(state["hears"], others), (name, state["hears"])
        routes = {(n, peer): link["route"] for n, s in states.items()
                  for peer, link in s["links"].items()}
        assert routes[("ana", "ben")] == routes[("ben", "ana")] == "host"
        for other in ("ana", "ben"):  # cy is behind a NAT: STUN found its public address
            assert routes[(other, "cy")] == "srflx", routes
        rooms = await _wait_dashboard(teacher, 5000, 3, lambda links: all(
            link["state"] == "connected" for link in links))
        shown = {frozenset((link["a"], link["b"])): link["route"] for link in rooms[0]["links"]}
        assert shown[frozenset(("ana", "ben"))] == "host"
        assert shown[frozenset(("ana", "cy"))] == shown[frozenset(("ben", "cy"))] == "srflx"
        # The teacher's token guards the dashboard and the trace, beyond loopback too
        token, ana = started["token"], agents["ana"]
        for path in ("/dashboard", "/trace", "/trace?room=ABCD12"):
            reply = await ana.call("http.get", {"url": url + path})
            assert reply["status"] == 401, (path, reply)
            assert "ana" not in reply["body"]
        reply = await ana.call("http.get", {"url": url + "/dashboard", "token": token})
        assert reply["status"] == 200 and '"ana"' in reply["body"]
    assert [n for n in shell.namespaces() if n.startswith(lab.prefix)] == []


async def test_symmetric_nats_fail_with_stun_alone_and_connect_through_the_teachers_turn(
        namespaces_allowed):
    design = Design()
    design.school("teacher")
    design.home("dee", nat="symmetric")
    design.home("eve", nat="port-restricted")
    lab = NetLab(design.network())
    async with lab:
        teacher = await lab.agent("teacher")
        host = teacher.addresses[0]
        # Two classrooms: STUN only on 5001, STUN and TURN on 5000
        stun_only = await teacher.call("classroom.start", {
            "host": host, "port": 5001, "networks": [SCHOOL, ISP], "turn": False})
        with_turn = await teacher.call("classroom.start", {
            "host": host, "port": 5000, "networks": [SCHOOL, ISP], "credential_ttl": 600})
        # STUN alone: the pair fails, and the dashboard shows it failed, as both report it
        dee, eve = await asyncio.gather(lab.agent("dee", "dee-1"), lab.agent("eve", "eve-1"))
        await _join({"dee": dee, "eve": eve}, stun_only["url"], ["dee", "eve"])
        state = await dee.call("student.wait", {"others": 1, "timeout": 30}, timeout=45)
        assert state["links"]["eve"]["state"] == "failed", state
        rooms = await _wait_dashboard(teacher, 5001, 1, lambda links: [
            (end or {}).get("state") for end in links[0]["reports"].values()] == ["failed"] * 2)
        assert rooms[0]["links"][0]["state"] == "failed"
        await asyncio.gather(dee.close(), eve.close())
        # With the teacher's TURN (time-limited credentials from /config): relayed
        dee, eve = await asyncio.gather(lab.agent("dee", "dee-2"), lab.agent("eve", "eve-2"))
        await _join({"dee": dee, "eve": eve}, with_turn["url"], ["dee", "eve"])
        joined_servers = (await dee.call("student.status"))
        for name, agent in (("dee", dee), ("eve", eve)):
            state = await agent.call("student.wait", {"others": 1, "timeout": 30}, timeout=45)
            assert state["settled"], state
            other = "eve" if name == "dee" else "dee"
            assert _near(state["hears"], [other]), state
            assert state["links"][other]["route"] == "relay", state
        assert joined_servers["links"]["eve"]["state"] in ("connecting", "connected", "new")
        rooms = await _wait_dashboard(teacher, 5000, 1, lambda links: links[0]["state"]
                                      == "connected" and links[0]["route"] == "relay")
        # the credentials are time-limited ones (expiry:name), never a long-term password
        config = await dee.call("http.get", {"url": with_turn["url"] + "/config"})
        assert config["status"] == 200 and ":class-" in config["body"], config
    assert [n for n in shell.namespaces() if n.startswith(lab.prefix)] == []


async def test_the_seeds_own_client_works_against_a_classroom_beyond_loopback(
        namespaces_allowed):
    """The Node client written for the seed (tests/node), unchanged, from another machine of
    the school LAN: the teacher's server beyond loopback still speaks the seed's protocol."""
    node = shutil.which("node")
    assert node, "node is not installed (run `make test`, which installs it)"
    design = Design()
    design.school("teacher")
    design.school("ana")
    lab = NetLab(design.network())
    async with lab:
        teacher = await lab.agent("teacher")
        started = await teacher.call("classroom.start", {
            "host": teacher.addresses[0], "port": 5000, "networks": [SCHOOL]})
        run = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", lab.namespace("ana"), node, "seed_client.mjs",
            started["url"], cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(run.communicate(), 60)
        report = json.loads(out.decode().strip().splitlines()[-1])
        assert report["ok"] and run.returncode == 0, (report, err.decode()[-2000:])
        assert report["graceVoiceErrors"] == ["Voice channel is full!"]
        assert report["answersFromDave"] == {"Alice": 1, "Bob": 1, "Charlie": 1}
    assert [n for n in shell.namespaces() if n.startswith(lab.prefix)] == []
