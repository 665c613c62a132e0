"""Each adjustment talklab makes to aiortc/aioice (talklab/_aiortc/), tested on its own, and the
promise around them: applied only while a lab runs, each lab with its own settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import aioice.ice
import aioice.stun
import aioice.turn
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from talklab import Lab, _aiortc
from talklab._aiortc import Settings
from talklab.ice import split_candidates
from talklab.ice.inspect import ice_connection
from talklab.nat import Nat

STOCK = {
    (aioice.ice, "get_host_addresses"): aioice.ice.get_host_addresses,
    (aioice.ice.StunProtocol, "datagram_received"): aioice.ice.StunProtocol.datagram_received,
    (aioice.ice.StunProtocol, "connection_made"): aioice.ice.StunProtocol.connection_made,
    (aioice.ice.Connection, "check_state"): aioice.ice.Connection.check_state,
    (aioice.ice.Connection, "check_start"): aioice.ice.Connection.check_start,
    (aioice.ice.Connection, "build_request"): aioice.ice.Connection.build_request,
    (aiortc.rtcrtpreceiver, "threading"): threading,
    (aioice.stun.Transaction, "__init__"): aioice.stun.Transaction.__init__,
    (RTCRtpReceiver, "receive"): RTCRtpReceiver.receive,
}


def assert_stock() -> None:
    assert not _aiortc.installed()
    for (owner, name), original in STOCK.items():
        assert getattr(owner, name) is original, name
    assert "connection_made" not in vars(aioice.turn.TurnClientUdpProtocol)  # inherited again
    assert aioice.stun.RETRY_MAX == 6


def test_importing_talklab_changes_nothing_in_aioice():
    code = ("import aioice.ice, aioice.stun; stock = aioice.ice.get_host_addresses\n"
            "import talklab, talklab.lab.lab, talklab.browser.person\n"
            "assert aioice.ice.get_host_addresses is stock and aioice.stun.RETRY_MAX == 6\n"
            "print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.stdout.strip() == "ok", run.stderr


def test_importing_the_signaling_server_loads_no_media_stack():
    code = ("import time; t = time.perf_counter(); import talklab.server, sys\n"
            "print(time.perf_counter() - t, *(m in sys.modules for m in "
            "('aiortc', 'av', 'matplotlib', 'numpy', 'networkx', 'aioice')))")
    times = []
    for _ in range(3):  # the best of three: another process may share the machine
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)
        seconds, *loaded = run.stdout.split()
        assert loaded == ["False"] * 6, run.stdout + run.stderr
        times.append(float(seconds))
    assert min(times) < 1.0, times


async def test_labs_closed_in_either_order_put_aioice_back():
    assert_stock()
    for first_to_close in (0, 1):
        labs = [Lab(check_retries=1), Lab(check_retries=2)]
        for lab in labs:
            await lab.start()
        assert _aiortc.installed()
        await labs[first_to_close].close()
        assert _aiortc.installed()  # the other lab still runs, with its adjustments
        await labs[1 - first_to_close].close()
        assert_stock()


async def test_two_labs_at_once_each_run_with_their_own_retries():
    async with Lab(check_retries=1) as quick, Lab(check_retries=4) as patient:
        people = [await lab.join(f"P{i}", voice=True)
                  for i, lab in enumerate((quick, quick, patient, patient))]
        await quick.wait_connected()
        await patient.wait_connected()
        for person, retries in zip(people, (1, 1, 4, 4), strict=True):
            connection = ice_connection(next(iter(person.links.values())).pc)
            assert _aiortc.settings_of(connection).check_retries == retries
        # and a transaction made outside any lab is aioice's own, even while both run
        transaction = aioice.stun.Transaction(aioice.stun.Message(
            aioice.stun.Method.BINDING, aioice.stun.Class.REQUEST), ("127.0.0.1", 9), None)
        assert transaction._Transaction__tries_max == 1 + aioice.stun.RETRY_MAX
        with _aiortc.running(Settings(check_retries=2)):
            transaction = aioice.stun.Transaction(aioice.stun.Message(
                aioice.stun.Method.BINDING, aioice.stun.Class.REQUEST), ("127.0.0.1", 9), None)
            assert transaction._Transaction__tries_max == 3
    assert_stock()


def test_settings_refuse_what_makes_no_sense():
    with pytest.raises(ValueError, match="check_retries"):
        Settings(check_retries=-1)
    with pytest.raises(ValueError, match="nomination"):
        Settings(nomination="random")
    with pytest.raises(ValueError, match="decoding"):
        Settings(decoding="gpu")


def test_host_addresses_come_from_the_context():
    with _aiortc.running():
        with _aiortc.gathering_on("127.10.9.9"):
            assert aioice.ice.get_host_addresses(True, False) == ["127.10.9.9"]
        # Outside a talklab gathering, aioice's own function answers (it never lists loopback).
        assert "127.10.9.9" not in aioice.ice.get_host_addresses(True, False)


async def test_a_peer_connection_gathers_on_its_loopback_address_only():
    with _aiortc.running():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTransceiver("audio")
            with _aiortc.gathering_on("127.10.9.8"):
                await pc.setLocalDescription(await pc.createOffer())
            _, candidates = split_candidates(pc.localDescription.sdp)
            assert len(candidates) == 1
            assert " 127.10.9.8 " in candidates[0].text and "typ host" in candidates[0].text
        finally:
            await pc.close()


async def test_an_agent_on_loopback_ignores_datagrams_from_outside():
    seen = []

    class Receiver:
        def data_received(self, data, component):
            seen.append(data)

    class Transport:
        def get_extra_info(self, name):
            return ("127.10.0.1", 1)

    with _aiortc.running():
        protocol = aioice.ice.StunProtocol(Receiver())
        with _aiortc.gathering_on("127.10.0.1"):
            protocol.connection_made(Transport())
        protocol.local_candidate = aioice.Candidate(
            foundation="1", component=1, transport="udp", priority=1, host="127.10.0.1",
            port=1, type="host")
        protocol.datagram_received(b"\x80media", ("192.0.2.2", 4000))
        assert seen == [] and protocol.talklab_dropped_outside == 1
        protocol.datagram_received(b"\x80media", ("127.10.0.2", 4000))
        assert seen == [b"\x80media"]


async def test_three_hundred_nat_hosts_over_several_labs_never_share_an_address():
    live: dict[str, object] = {}
    for _ in range(3):
        async with Lab() as lab:
            for _ in range(10):
                box = lab.nat("port-restricted")
                for _ in range(10):
                    host = box.host()
                    assert host.address not in live, host.address
                    live[host.address] = host
                assert box.public_ip not in live
                live[box.public_ip] = box
        # the lab closed its NATs: their addresses may be handed out again
        live.clear()
    boxes = [Nat("full-cone") for _ in range(3)]
    hosts = [box.host() for box in boxes for _ in range(100)]
    assert len({h.address for h in hosts}) == 300
    assert len({b.public_ip for b in boxes}) == 3
    for box in boxes:
        box.close()


async def test_a_labs_audio_is_decoded_on_the_loop_and_still_heard():
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected()
        await alice.wait_heard()
        await bob.wait_heard()
        assert abs(alice.hears()["Bob"] - bob.tone_hz) < 2
        assert abs(bob.hears()["Alice"] - alice.tone_hz) < 2
        assert not [t for t in threading.enumerate() if t.name.endswith("-decoder")]
        receiver = next(iter(bob.links.values())).pc.getReceivers()[0]
        decoder = receiver._RTCRtpReceiver__decoder_thread
        assert isinstance(decoder, _aiortc.decoding.LoopDecoder) and decoder.frames > 25
        ended = asyncio.Event()
        put = decoder.put
        decoder.put = lambda task: (put(task), task is None and ended.set())  # type: ignore
        await alice.leave_voice()
        # Bob hangs up: the receiver stops and its track's queue ends, as aiortc's thread ends it
        await asyncio.wait_for(ended.wait(), 10)
        queued = [receiver.track._queue.get_nowait() for _ in range(receiver.track._queue.qsize())]
        assert queued[-1] is None
    assert_stock()
