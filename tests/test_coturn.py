"""talklab's STUN and TURN servers against coturn's own clients, and aiortc through coturn.

Debian's coturn package (installed by `make test`) brings `turnserver` and its test clients
`turnutils_uclient` and `turnutils_stunclient`: real implementations nobody here wrote.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket

import pytest
from aioice import stun
from aiortc import RTCIceServer

from talklab import Lab
from talklab.stun import StunServer
from talklab.turn import TurnServer

USER, PASSWORD, REALM = "alice", "secret", "lab"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (run `make test`, which installs coturn)"
    return path


async def run(*args: str, timeout: float = 60) -> str:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return out.decode(errors="replace")


async def uclient(server: TurnServer, *flags: str, password: str = PASSWORD) -> str:
    return await run(tool("turnutils_uclient"), "-y", "-c", *flags, "-n", "200", "-m", "1",
                     "-l", "100", "-z", "1", "-u", USER, "-w", password,
                     "-p", str(server.address[1]), server.address[0])


@pytest.mark.parametrize("flags,how", [((), "UDP channels"), (("-s",), "UDP Send indications"),
                                       (("-t",), "TCP")])
async def test_uclient_moves_200_messages_each_way_through_talklab_turn(flags, how):
    async with TurnServer(users={USER: PASSWORD}, realm=REALM,
                          allow_loopback_peers=True) as server:
        out = await uclient(server, *flags)
        assert "tot_send_msgs=400, tot_recv_msgs=400" in out, out[-2000:]
        assert "Total lost packets 0 (" in out
        assert server.counters.packets_relayed >= 800  # 400 out to the peer, 400 in
        assert server.counters.bytes_relayed >= 400 * 100 * 2


async def test_uclient_with_a_wrong_password_relays_nothing():
    async with TurnServer(users={USER: PASSWORD}, realm=REALM,
                          allow_loopback_peers=True) as server:
        out = await uclient(server, password="wrong")
        assert "Cannot complete Allocation" in out
        assert server.counters.bytes_relayed == 0 and server.core.allocations == {}
        assert server.counters.refused > 0


async def test_stunclient_reads_its_address_from_talklab_stun():
    async with StunServer() as server:
        other_port = server.endpoints.ports[1]
        out = await run(tool("turnutils_stunclient"), "-p", str(server.address[1]),
                        server.address[0], timeout=20)
    assert re.search(r"UDP reflexive addr: 127\.0\.0\.1:\d+", out), out
    assert f"Other addr: : 127.0.0.2:{other_port}" in out
    # its RFC 5780 tests 2 and 3 got their answers from the other address (CHANGE-REQUEST)
    assert out.count(f"Response origin: : 127.0.0.2:{other_port}") == 2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def coturn(tmp_path):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        tool("turnserver"), "-n", "--no-cli", "--no-tls", "--no-dtls", "--lt-cred-mech",
        "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--min-port=45000", "--max-port=45999", f"--user={USER}:{PASSWORD}",
        f"--realm={REALM}", "--allow-loopback-peers", f"--userdb={tmp_path / 'turndb'}",
        f"--pidfile={tmp_path / 'turnserver.pid'}", "--log-file=stdout", "--simple-log",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await ready(("127.0.0.1", port))
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        await proc.wait()


async def ready(address, timeout: float = 10) -> None:
    """Wait until the server answers a Binding request (asked again every 100 ms)."""
    loop = asyncio.get_running_loop()
    answered = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            if not answered.done():
                answered.set_result(True)

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    try:
        async def ask():
            while not answered.done():
                transport.sendto(bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST)),
                                 address)
                await asyncio.wait([answered], timeout=0.1)
        await asyncio.wait_for(ask(), timeout)
    finally:
        transport.close()


async def test_aiortc_people_connect_relay_only_through_coturn(coturn):
    servers = [RTCIceServer(urls=f"turn:{coturn[0]}:{coturn[1]}", username=USER,
                            credential=PASSWORD)]
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True, relay_only=True, ice_servers=servers)
        bob = await lab.join("Bob", voice=True, relay_only=True, ice_servers=servers)
        await lab.wait_connected(15)
        assert alice.link_to("Bob").route == bob.link_to("Alice").route == "relay"
        await bob.wait_heard(0.5)
        assert bob.hears()["Alice"] == pytest.approx(alice.tone_hz, abs=2)
