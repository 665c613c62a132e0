"""The lab's Janus process: start, answer, refuse strangers, stop without leaving anything, and
fail to start with a clear error (tests/test_janus_room.py has the media)."""

from __future__ import annotations

import asyncio
import os
import select
import socket

import aiohttp
import pytest

from talklab.janus import Janus, JanusError, JanusStartError, JanusUnavailable, available
from talklab.janus import server as janus_server
from talklab.janus.client import JanusClient
from talklab.janus.config import write_config

pytestmark = pytest.mark.skipif(not available(), reason="needs Janus (apt-get install janus)")


def gone(pid: int, timeout: float = 5) -> bool:
    """True once process ``pid`` has exited (its pidfd turns readable), within ``timeout``."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([handle], [], [], timeout)
        return bool(readable)
    finally:
        os.close(handle)


def port_free(port: int) -> bool:
    """Nothing listens on ``port`` any more. (SO_REUSEADDR: a connection of the test's own
    left in TIME_WAIT, when Janus happened to close it first, is not a port left behind.)"""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_janus_starts_answers_and_stops_leaving_nothing():
    janus = Janus(plugins=("videoroom", "audiobridge"))
    await janus.start()
    pid, port, folder = janus.pid, janus.port, janus.folder
    try:
        assert janus.started_in is not None and janus.started_in < 5
        info = await janus.client().info()
        assert info["version_string"] == "1.1.2"
        assert set(info["plugins"]) == {"janus.plugin.videoroom", "janus.plugin.audiobridge"}
        assert set(info["transports"]) == {"janus.transport.http"}
        listening = [s for s in janus.sockets() if s.state == "LISTEN"]
        assert [s.local for s in listening] == [("127.0.0.1", port)]  # no admin API, no other
        assert janus.sockets_outside_loopback() == []
        assert folder is not None and (folder / "janus.jcfg").stat().st_mode & 0o077 == 0
        # its own process group: Interrupt Kernel (SIGINT to the kernel's group) spares it
        assert os.getpgid(pid) != os.getpgid(0)
    finally:
        await janus.close()
    assert gone(pid), "the Janus process outlived close()"
    assert janus.stopped_in is not None and janus.stopped_in < janus.stop_timeout
    assert janus.returncode == 0  # it stopped on SIGTERM, cleanly
    assert port_free(port)
    assert not folder.exists()
    assert not janus.running


async def test_a_request_without_the_labs_secret_is_refused():
    async with Janus(plugins=("videoroom",)) as janus:
        for secret in (None, "guessed"):
            stranger = JanusClient(janus.url, api_secret=secret, origin=janus.origin)
            try:
                with pytest.raises(JanusError) as refused:
                    await stranger.create_session()
                assert refused.value.code == 403
            finally:
                await stranger.close()
        session = await janus.client().create_session()  # the lab's own client gets in
        assert session.id > 0


@pytest.mark.parametrize("origin", [None, "http://evil.example", "http://127.0.0.1"])
async def test_a_foreign_origin_is_refused(origin):
    async with Janus(plugins=("videoroom",)) as janus:
        headers = {"Origin": origin} if origin else {}
        body = {"janus": "create", "transaction": "t", "apisecret": janus.api_secret}
        async with aiohttp.ClientSession() as http:
            async with http.post(janus.url, json=body, headers=headers) as answer:
                assert answer.status == 403  # even with the secret: a web page cannot drive it
            async with http.post(janus.url, json=body,
                                 headers={"Origin": janus.origin}) as answer:
                assert answer.status == 200


async def test_without_janus_a_clear_unavailable_error():
    with pytest.raises(JanusUnavailable, match="not installed"):
        await Janus(binary="/nonexistent/janus").start()


async def test_a_taken_port_is_named_with_the_log():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        janus = Janus(port=port, plugins=("videoroom",))
        with pytest.raises(JanusStartError) as failed:
            await janus.start()
    assert failed.value.port_taken
    assert f"127.0.0.1:{port} is taken" in str(failed.value)
    assert "last lines of its log" in str(failed.value)  # (Janus may crash before saying why)
    assert janus.last_pid is not None and gone(janus.last_pid)
    assert janus.folder is None


async def test_a_bad_configuration_is_named_with_the_log(monkeypatch):
    monkeypatch.setattr(janus_server, "write_config", broken_config)
    janus = Janus(plugins=("videoroom",))
    with pytest.raises(JanusStartError, match="configuration could not be read") as failed:
        await janus.start()
    assert "last lines of its log" in str(failed.value)
    assert janus.last_pid is not None and gone(janus.last_pid)


def broken_config(settings, folder, library):
    """The lab's configuration, with the core's file cut short. (Not the HTTP transport's:
    Janus 1.1.2 reads that one while its other threads start, and on a busy machine it once
    died of SIGSEGV before its log thread wrote why; the core's file is read first, alone.)"""
    path = write_config(settings, folder, library)
    (folder / "janus.jcfg").write_text("general: {\n\tport = \n")
    return path


async def test_a_janus_that_exits_at_once_is_named(tmp_path):
    fake = tmp_path / "janus"
    fake.write_text("#!/bin/sh\necho '[FATAL] [janus.c:main] something went wrong'\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(JanusStartError, match=r"exited with status 3: .*something went wrong"):
        await Janus(binary=str(fake), plugins=("videoroom",)).start()


async def test_a_janus_that_never_answers_times_out(tmp_path):
    fake = tmp_path / "janus"
    fake.write_text("#!/bin/sh\necho 'starting...'\nexec sleep 30\n")
    fake.chmod(0o755)
    janus = Janus(binary=str(fake), plugins=("videoroom",), start_timeout=0.5)
    with pytest.raises(JanusStartError, match=r"no answer within 0\.5 s"):
        await janus.start()
    assert janus.last_pid is not None and gone(janus.last_pid)


async def test_the_long_poll_delivers_each_event_to_its_request():
    """Two asynchronous requests at once, on two handles: each gets its own event back."""
    async with Janus(plugins=("videoroom",)) as janus:
        session = await janus.client().create_session()
        lab = await session.attach("janus.plugin.videoroom")
        room = (await lab.request({"request": "create", "audiocodec": "opus"})).data["room"]
        a, b = [await session.attach("janus.plugin.videoroom") for _ in range(2)]
        joined = await asyncio.gather(
            a.request({"request": "join", "ptype": "publisher", "room": room, "display": "A"}),
            b.request({"request": "join", "ptype": "publisher", "room": room, "display": "B"}))
        assert [r.data["videoroom"] for r in joined] == ["joined", "joined"]
        assert joined[0].data["id"] != joined[1].data["id"]
        await session.keepalive()
        listed = await lab.request({"request": "listparticipants", "room": room})
        assert {p["display"] for p in listed.data["participants"]} == {"A", "B"}
        await session.destroy()
        assert session.closed and not janus.client().sessions


async def test_a_janus_without_its_loopback_guard_is_stopped_before_use(monkeypatch, tmp_path):
    """The dynamic loader skips a preload it cannot open and runs Janus anyway: talklab checks
    the guard is mapped into the process, and stops a Janus that runs without it."""
    missing = tmp_path / "libtalklab_loopback.so"  # never built
    monkeypatch.setattr(janus_server.loopback, "library_path", lambda: missing)
    janus = Janus(plugins=("videoroom",))
    with pytest.raises(JanusStartError, match=r"loopback guard .* is not loaded"):
        await janus.start()
    assert janus.last_pid is not None and gone(janus.last_pid)
    assert janus.folder is None
