"""A class on one machine, without root: the teacher's Classroom on loopback, students' labs
joined to it by URL (in this process, and in two real Jupyter kernels), the dashboard built
from what the people report, locks, tokens, and what a student's lab refuses."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import aiohttp
import pytest
import socketio
from test_kernel import Kernel, errors, stderr

import talklab
from talklab.address import Scope
from talklab.classroom import Classroom, DashboardView, fetch_dashboard
from talklab.lab.student import RemoteError, checked_ice_servers, route_address, server_host
from talklab.server import SignalingServer
from talklab.server.classroom import ClassState, combined, link_report, link_state
from talklab.server.payloads import InvalidPayload
from talklab.server.rooms import Member


async def _until(condition, timeout: float = 10.0, what: str = "it") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)  # (polling a plain value, bounded by timeout)


# -- two kernels, one laptop ------------------------------------------------------------------
STUDENT = """
import talklab
lab = await talklab.Lab(server={url!r})
me = await lab.join({name!r}, voice=True, tone_hz={tone})
"""


class StudentKernel:
    """A real Jupyter kernel, driven from a thread of its own: jupyter_client's blocking client
    keeps an event loop per thread, and the classroom's must keep running meanwhile."""

    def __init__(self) -> None:
        self.thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.kernel: Kernel | None = None

    async def _do(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.thread, fn, *args)

    async def start(self) -> StudentKernel:
        self.kernel = await self._do(Kernel)
        return self

    async def run(self, code: str) -> list[dict]:
        assert self.kernel is not None
        return await self._do(self.kernel.run, code)

    async def close(self) -> None:
        if self.kernel is not None:
            await self._do(self.kernel.close)
        self.thread.shutdown()


async def test_two_students_kernels_join_a_loopback_classroom_and_hear_each_other():
    async with Classroom() as classroom:
        kernels = [StudentKernel(), StudentKernel()]
        try:
            await asyncio.gather(*(k.start() for k in kernels))
            for kernel, (name, tone) in zip(kernels, (("Ana", 440), ("Ben", 660)), strict=True):
                ran = await kernel.run(STUDENT.format(url=classroom.url, name=name, tone=tone))
                assert errors(ran) == [] and stderr(ran) == "", ran
            for kernel, other, tone in ((kernels[0], "Ben", 660), (kernels[1], "Ana", 440)):
                ran = await kernel.run(
                    "await lab.wait_connected(15); await me.wait_heard(1.0)\n"
                    "import json; print(json.dumps({'hears': me.hears(), 'address': me.address,"
                    f" 'route': me.link_to({other!r}).route}}))")
                assert errors(ran) == [] and stderr(ran) == "", ran
                said = json.loads("".join(m["content"]["text"] for m in ran
                                          if m["msg_type"] == "stream"))
                assert abs(said["hears"][other] - tone) < 10, said
                assert said["address"] == "127.0.0.1" and said["route"] == "host", said
            await _until(lambda: classroom.dashboard()[0]["links"][0]["state"] == "connected",
                         what="the dashboard showing the call")
            rooms = classroom.dashboard()
            assert [m["username"] for m in rooms[0]["members"]] == ["Ana", "Ben"]
            assert rooms[0]["links"][0]["route"] == "host"
            for kernel in kernels:
                ran = await kernel.run("await lab.close()")
                assert errors(ran) == [], ran
        finally:
            await asyncio.gather(*(k.close() for k in kernels))


# -- the teacher's controls -------------------------------------------------------------------
async def test_a_locked_room_refuses_a_newcomer_and_keeps_who_is_in_it():
    async with Classroom(turn=False) as classroom, \
            talklab.Lab(server=classroom.url) as lab:
        ana = await lab.join("Ana", voice=True, tone_hz=440)
        classroom.lock("ABCD12")
        with pytest.raises(talklab.SignalingError, match="locked by the teacher"):
            await lab.join("Ben", voice=True, tone_hz=660)
        other = await lab.join("Cy", room="ROOM22", voice=True, tone_hz=880)  # other rooms: open
        assert other.in_voice and ana.in_voice
        rooms = {r["room"]: r for r in classroom.dashboard()}
        assert rooms["ABCD12"]["locked"] and not rooms["ROOM22"]["locked"]
        assert [m["username"] for m in rooms["ABCD12"]["members"]] == ["Ana"]
        classroom.unlock("ABCD12")
        ben = await lab.join("Ben", voice=True, tone_hz=660)
        await lab.wait_connected()
        assert ben.link_to("Ana").state == "connected"


async def test_the_dashboard_and_locks_need_the_teachers_token_over_http():
    async with Classroom(turn=False) as classroom, aiohttp.ClientSession() as http:
        for method, path in (("GET", "/dashboard"), ("POST", "/lock?room=ABCD12"),
                             ("GET", "/trace")):
            async with http.request(method, classroom.url + path) as reply:
                assert reply.status == 401, path
        assert classroom.server.app.classroom.locked == set()
        auth = {"Authorization": f"Bearer {classroom.token}"}
        async with http.post(classroom.url + "/lock?room=ABCD12", headers=auth) as reply:
            assert reply.status == 200 and (await reply.json())["locked"] is True
        async with http.post(classroom.url + "/lock?room=%3Cscript%3E", headers=auth) as reply:
            assert reply.status == 400
        assert await fetch_dashboard(classroom.url, classroom.token) == []
        async with http.post(classroom.url + "/unlock?room=ABCD12", headers=auth) as reply:
            assert (await reply.json())["locked"] is False


async def test_config_hands_out_time_limited_turn_credentials_and_turn_relays_to_the_class_only():
    async with Classroom(credential_ttl=600) as classroom, aiohttp.ClientSession() as http:
        async with http.get(classroom.url + "/config") as reply:
            servers = (await reply.json())["iceServers"]
        turn = next(s for s in servers if s["urls"].startswith("turn:"))
        expiry, name = turn["username"].split(":", 1)
        assert name.startswith("class-") and 590 <= int(expiry) - classroom.turn.core.clock() <= 600
        assert classroom.turn.core.credentials.password(turn["username"]) == turn["credential"]
        policy = classroom.turn.core.policy
        assert policy.allows(("127.0.0.1", 40000))
        for outside in ("8.8.8.8", "192.168.1.10", "224.0.0.1", "0.0.0.0"):
            assert not policy.allows((outside, 40000)), outside


def test_a_classroom_beyond_loopback_needs_its_networks_named():
    with pytest.raises(ValueError, match="networks named"):
        Classroom("192.0.2.10")
    with pytest.raises(TypeError, match="list of CIDR"):
        Classroom("192.0.2.10", networks="192.0.2.0/24")
    with pytest.raises(ValueError, match="IP address"):
        Classroom("teacher.local")
    room = Classroom("192.0.2.10", networks=["192.0.2.0/24"])
    assert "BEYOND LOOPBACK" in room.exposes() and "192.0.2.0/24" in room.exposes()


# -- what a student's lab refuses -------------------------------------------------------------
def test_a_students_lab_refuses_the_options_of_a_local_lab():
    for bad in ({"stun": True}, {"turn": True}, {"redis": "redis://127.0.0.1/0"},
                {"topology": "sfu"}):
        with pytest.raises(ValueError, match="belongs to a local lab"):
            talklab.Lab(server="http://127.0.0.1:5000", **bad)
    with pytest.raises(ValueError, match="by IP address"):
        talklab.Lab(server="http://teacher.example:5000")
    with pytest.raises(ValueError, match="teacher's URL"):
        talklab.Lab(server="ftp://127.0.0.1")
    with pytest.raises(ValueError, match="server="):
        talklab.Lab(networks=["10.0.0.0/8"])
    assert server_host("http://localhost:5000") == "127.0.0.1"
    assert route_address("127.0.0.1") == "127.0.0.1"


async def test_a_students_lab_refuses_nat_and_ice_servers_and_an_unreachable_teacher():
    async with Classroom(turn=False) as classroom, \
            talklab.Lab(server=classroom.url) as lab:
        with pytest.raises(ValueError, match="nat= belongs to a local lab"):
            await lab.join("Ana", nat="symmetric")
        with pytest.raises(ValueError, match="ice_servers= belongs"):
            await lab.join("Ana", ice_servers=[])
        with pytest.raises(RuntimeError, match="teacher's"):
            lab.trace_token  # noqa: B018
        assert lab.people == {}
    dead = talklab.Lab(server=classroom.url)  # (its servers are closed now)
    with pytest.raises(RemoteError, match="cannot reach"):
        await dead.start()
    await dead.close()


async def test_a_config_naming_another_host_is_refused_and_never_contacted():
    public = [{"urls": "stun:stun.l.google.com:19302"}]
    with pytest.raises(RemoteError, match="not on the teacher's own address"):
        checked_ice_servers(public, "127.0.0.1")
    with pytest.raises(RemoteError, match="not on the teacher's own address"):
        checked_ice_servers([{"urls": ["stun:127.0.0.1:3478", "turn:10.0.0.1:3478"]}],
                            "127.0.0.1")
    kept = checked_ice_servers([{"urls": "turn:127.0.0.1:3478?transport=tcp",
                                 "username": "u", "credential": "p"}], "127.0.0.1")
    assert kept[0].username == "u"
    async with SignalingServer(ice_servers=public) as server, \
            talklab.Lab(server=server.url) as lab:
        with pytest.raises(RemoteError, match=r"stun\.l\.google\.com"):
            await lab.join("Ana", voice=True)
        assert lab.people == {}


def test_a_scope_beyond_loopback_still_refuses_what_is_never_a_peer():
    anywhere, school = Scope.unicast(), Scope.unicast(["203.0.113.128/25"])
    assert anywhere.allows("198.51.100.7") and anywhere.allows("127.0.0.1")
    for never in ("224.0.0.1", "0.0.0.0", "255.255.255.255", "ana.local"):
        assert not anywhere.allows(never), never
    assert school.allows("203.0.113.130") and not school.allows("198.51.100.7")
    assert not Scope.loopback().allows("192.0.2.1")


# -- the reports, on the server -----------------------------------------------------------------
def test_a_link_report_is_checked_and_bounded():
    good = {"room": "ABCD12", "links": [{"peer": "s2", "state": "connected", "route": "srflx"}]}
    assert link_report(good, 6) == [("s2", "connected", "srflx")]
    for bad in (None, [], {"links": "all"}, {"links": [{"peer": "s2", "state": "happy"}]},
                {"links": [{"peer": "s2", "state": "connected", "route": "carrier-pigeon"}]},
                {"links": [{"peer": "x" * 65, "state": "new", "route": None}]},
                {"links": [{"peer": 7, "state": "new", "route": None}]},
                {"links": [{"peer": f"s{i}", "state": "new", "route": None} for i in range(7)]}):
        with pytest.raises(InvalidPayload):
            link_report(bad, 6)


def test_two_ends_make_one_link_no_better_than_its_worse_end():
    up = {"state": "connected", "route": "host"}
    assert combined(up, up) == ("connected", "host")
    assert combined(up, None) == ("connecting", "host")  # one side only: not yet heard both ways
    assert combined(up, {"state": "failed", "route": None}) == ("failed", "host")
    assert combined(None, None) == ("unreported", None)


def test_the_link_state_the_server_draws_is_the_one_notebook_11_teaches():
    """Every case notebook 12's exercise judges (talklab.check.classroom), by the server's own
    rule: the two can never tell a teacher different things."""
    from talklab.check.classroom import CASES
    for a, b, expected, _ in CASES:
        assert link_state(a, b) == expected, (a, b)


def test_reports_are_forgotten_when_their_person_leaves_and_never_cross_rooms():
    state = ClassState()
    ana, ben = Member("s1", "u1", "Ana", "ABCD12", True), Member("s2", "u2", "Ben", "ABCD12", True)
    eve = Member("s3", "u3", "Eve", "OTHER1", True)
    state.report(ana, [("s2", "connected", "host")])
    state.report(eve, [("s2", "failed", None)])  # a claim about someone in another room
    rooms = state.dashboard({"ABCD12": [ana, ben], "OTHER1": [eve]}, 6, {})
    link = rooms[0]["links"][0]
    assert link["reports"] == {"Ana": {"state": "connected", "route": "host"}, "Ben": None}
    assert rooms[1]["links"] == []
    for sid in ("s1", "s3"):
        state.forget(sid)
    assert len(state) == 0


async def test_bad_reports_get_a_signaling_error_and_change_nothing():
    async with SignalingServer() as server:
        client = socketio.AsyncClient()
        errors_seen: list[dict] = []
        client.on("signalingError", errors_seen.append)
        await client.connect(server.url, transports=["websocket"])
        try:
            await client.emit("talklabLinkReport", {"links": []})  # not in voice
            await client.emit("joinRoom", {"room": "ABCD12", "username": "Ana"})
            await client.emit("joinVoice", {"room": "ABCD12"})
            await client.emit("talklabLinkReport", {"links": [{"peer": "x", "state": "odd"}]})
            await _until(lambda: len(errors_seen) == 2, what="two refusals")
            assert [e["event"] for e in errors_seen] == ["talklabLinkReport"] * 2
            assert len(server.app.classroom) == 0
            await client.emit("talklabLinkReport", {"links": []})
            await _until(lambda: len(server.app.classroom) == 1, what="the report kept")
            await client.emit("leaveVoice", {"room": "ABCD12"})
            await _until(lambda: len(server.app.classroom) == 0, what="the report forgotten")
        finally:
            await client.disconnect()


def test_the_dashboard_view_shows_rooms_and_trouble_without_raw_reprs():
    rooms = [{"room": "ABCD12", "locked": True, "seatsLeft": 4, "messages": 12,
              "members": [{"socketId": "s1", "username": "Ana", "inVoice": True},
                          {"socketId": "s2", "username": "Ben", "inVoice": True}],
              "links": [{"a": "Ana", "b": "Ben", "aSocketId": "s1", "bSocketId": "s2",
                         "state": "failed", "route": None,
                         "reports": {"Ana": {"state": "failed", "route": None}, "Ben": None}}]}]
    shown = DashboardView(rooms)._repr_html_()
    assert "ABCD12 (locked)" in shown and "calls not carrying audio" in shown
    assert "failed" in shown and "nothing yet" in shown and "<svg" in shown
    assert "{" not in shown.split("<svg")[0]  # no dict reaches the learner
    assert "nobody has joined" in DashboardView([])._repr_html_()


async def test_the_class_stun_server_answers_the_class_only():
    """A STUN server told whom it serves ignores others (a loopback classroom's: requests from
    the machine's other interfaces, which a browser on it makes, get no answer off loopback)."""
    from talklab.nat import Host
    from talklab.stun import StunServer
    from talklab.stun.client import binding

    async with StunServer(alternate_host=None, clients=lambda ip: ip == "127.0.0.1") as stun:
        assert (await binding(stun.address, timeout=2)).response is not None
        assert (await binding(stun.address, host=Host("127.0.0.3"), timeout=0.3)).response \
            is None
        assert stun.counters.ignored == 1
    room = Classroom(networks=["127.0.0.1/32"])
    assert room._from_class("127.0.0.1") and not room._from_class("127.0.0.3")


async def test_the_live_dashboard_redraws_as_students_join_and_stops_with_the_classroom():
    async with Classroom(turn=False) as classroom, talklab.Lab(server=classroom.url) as one, \
            talklab.Lab(server=classroom.url) as two:
        view = classroom.live()
        assert "nobody has joined" in view.html
        await one.join("Ana", voice=True, tone_hz=440)
        await two.join("Ben", voice=True, tone_hz=660)
        await one.wait_connected()
        await classroom.wait_reported(calls=1)
        await _until(lambda: "1 of 1" in view.html, what="the live view redrawn")
        assert "Ana" in view.html and "{" not in view.html.split("<svg")[0]
    assert view.closed and "has closed" in view.html
    drawn = view.redraws
    assert classroom.views == [] and view.redraws == drawn


def test_talklab_classroom_prints_what_it_exposes_and_refuses_an_unnamed_class_network():
    import os
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(sys.executable).with_name("talklab-classroom")
    assert script.exists(), "talklab-classroom is not installed (run `make test`)"
    refused = subprocess.run([str(script), "--host", "192.0.2.10"], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 2 and "networks named" in refused.stderr
    proc = subprocess.Popen([str(script), "--port", "0", "--stun-port", "0", "--turn-port", "0"],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(6)]
        assert "loopback only" in banner[0], banner
        assert any(line.lstrip().startswith("TURN") and "127.0.0.0/8" in line
                   for line in banner), banner
        assert any("teacher's token" in line for line in banner), banner
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_a_student_hangs_up_at_once_after_the_teachers_turn_server_has_gone():
    """Closing a relayed call deletes its TURN allocation; with the teacher's TURN server gone
    that wait is bounded (it was aioice's 63.5 s of retransmissions)."""
    classroom = await Classroom().start()
    one, two = talklab.Lab(server=classroom.url), talklab.Lab(server=classroom.url)
    try:
        await one.join("Ana", voice=True, tone_hz=440, relay_only=True)
        await two.join("Ben", voice=True, tone_hz=660)
        await one.wait_connected(15)
        assert one.people["Ana"].link_to("Ben").route == "relay"
    finally:
        await classroom.close()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await one.close()
    await two.close()
    assert loop.time() - started < 5


async def test_a_rehearsal_in_a_closed_classroom_says_so_in_one_sentence():
    """12's rehearsal cells run after the classroom closed raised RemoteError ("cannot reach
    the teacher's server"), which the notebook's own table blames on a wrong URL or a
    firewall."""
    from talklab.classroom.teacher import ClassroomClosed
    classroom = await Classroom(turn=False).start()
    await classroom.close()
    with pytest.raises(ClassroomClosed, match="this classroom is not running"):
        await classroom.rehearse("Ana")
