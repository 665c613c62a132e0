"""The packets of a voice, recorded (talklab.media_plane and talklab._aiortc.taps): what the
wire carries, told apart as RFC 7983 does; pcapng files tshark reads, with the DTLS key log
inside; the round-trip time of RFC 3550."""

from __future__ import annotations

import itertools
import re
import shutil
import struct
import subprocess

import pytest
from helpers import recorded_call

from talklab import Lab
from talklab.media_plane import demux, dtls, pcapng, rtcp, rtt
from talklab.media_plane.capture import Capture, CaptureFiles
from talklab.views import packets


def tshark(*args: str) -> list[list[str]]:
    """tshark's ``-T fields`` rows (tab-separated). Its stderr (a warning when run as root) is
    not an error; its exit status is."""
    if shutil.which("tshark") is None:
        raise RuntimeError("tshark is not installed: `make test` installs it (apt: tshark)")
    result = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


# -- what a datagram is, from its first byte -----------------------------------------------------
@pytest.mark.parametrize("first, second, kind", [
    (0x00, 0x01, demux.STUN), (0x01, 0x01, demux.STUN), (22, 0xFE, demux.DTLS),
    (23, 0xFE, demux.DTLS), (0x40, 0x00, demux.CHANNEL_DATA), (0x80, 0x60, demux.RTP),
    (0x80, 0xE0, demux.RTP), (0x80, 0xC8, demux.RTCP), (0x81, 0xC9, demux.RTCP),
    (0x90, 0xDF, demux.RTCP), (0xC0, 0x00, demux.OTHER), (10, 0, demux.OTHER)])
def test_a_datagram_is_told_apart_by_its_first_byte(first, second, kind):
    assert demux.classify(bytes([first, second]) + b"\0" * 10) == kind


def test_channel_data_unwraps_and_refuses_a_length_past_its_end():
    inner = bytes([0x80, 0x60]) + b"x" * 10
    assert demux.unwrap_channel_data(struct.pack("!HH", 0x4001, 12) + inner) == (0x4001, inner)
    assert demux.unwrap_channel_data(struct.pack("!HH", 0x4001, 99) + inner) is None
    assert demux.unwrap_channel_data(inner) is None and demux.classify(b"") == demux.OTHER


# -- RFC 3550's round trip -------------------------------------------------------------------------
def test_round_trip_is_arrival_minus_lsr_minus_dlsr():
    sent = rtt.ntp_time(1_765_000_000.25)  # an SR leaves at this time...
    lsr = rtt.middle_32(sent)
    held = round(0.5 * 65536)  # ...the other end holds it 0.5 s before its RR...
    arrival = rtt.ntp_time(1_765_000_000.25 + 0.5 + 0.1)  # ...which arrives 0.6 s after it left
    assert rtt.round_trip(arrival, lsr, held) == pytest.approx(0.1, abs=2 / 65536)
    assert rtt.round_trip(arrival, 0, held) is None  # no SR received yet: no round trip
    assert rtt.round_trip(arrival, lsr, held + 65536) == pytest.approx(-0.9, abs=2 / 65536)


# -- the file Wireshark opens ---------------------------------------------------------------------
def test_blocks_are_padded_and_carry_their_length_twice():
    for block in (pcapng.section_header("a comment"), pcapng.interface("Alice"),
                  pcapng.decryption_secrets(b"CLIENT_RANDOM 00 11\n"),
                  pcapng.enhanced_packet(0, 1.5, b"abcde")):
        assert len(block) % 4 == 0
        length = struct.unpack("<I", block[4:8])[0]
        assert length == len(block) == struct.unpack("<I", block[-4:])[0]


def test_a_udp_packet_refuses_mixed_ip_versions_and_oversize():
    with pytest.raises(ValueError, match="IP versions differ"):
        pcapng.udp_packet(("127.0.0.1", 1), ("::1", 2), b"")
    with pytest.raises(ValueError, match="65,527"):
        pcapng.udp_packet(("127.0.0.1", 1), ("127.0.0.2", 2), b"x" * 65_528)


def test_tshark_reads_packets_with_correct_checksums_and_their_times(tmp_path):
    path = tmp_path / "two.pcapng"
    with open(path, "wb") as file:
        writer = pcapng.Writer(file, "a test")
        writer.packet("Alice", 1_765_000_000.123456, ("127.10.0.1", 5000),
                      ("127.10.0.2", 6000), b"hello")
        writer.packet("Alice", 1_765_000_000.5, ("::1", 5001), ("::1", 6001), b"world!")
    rows = tshark("-r", str(path), "-o", "ip.check_checksum:TRUE", "-o",
                  "udp.check_checksum:TRUE", "-T", "fields", "-e", "frame.time_epoch",
                  "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "ip.checksum.status",
                  "-e", "udp.checksum.status", "-e", "udp.payload", "-e", "frame.interface_name")
    assert [(r[0], r[1] or r[2], r[3], r[4], r[5], bytes.fromhex(r[6]), r[7]) for r in rows] == [
        ("1765000000.123456000", "127.10.0.1", "5000", "1", "1", b"hello", "Alice"),
        ("1765000000.500000000", "::1", "5001", "", "1", b"world!", "Alice")]  # 1: good


# -- the capture's one rule: the key before the records it decrypts -------------------------------
class Sink:
    def __init__(self) -> None:
        self.written: list[tuple[str, object]] = []

    def packet(self, interface_name, unix_time, source, destination, payload, sent=None):
        self.written.append(("packet", payload))

    def secrets(self, key_log):
        self.written.append(("secrets", key_log))


def test_datagrams_are_held_while_a_handshake_runs_and_follow_its_key():
    sink = Sink()
    capture = Capture(sink)
    a, b = ("127.10.0.1", 1), ("127.10.0.2", 2)
    capture.wire(1.0, a, b, b"\x00\x01stun", True)
    capture.handshake_started("call")
    capture.wire(1.1, b, a, bytes([22]) + b"hello", True)
    capture.wire(1.2, a, b, bytes([23]) + b"finished, encrypted", True)
    assert [w[0] for w in sink.written] == ["packet"]  # held
    capture.handshake_ended("call", b"CLIENT_RANDOM aa bb\n")
    assert sink.written == [("packet", b"\x00\x01stun"), ("secrets", b"CLIENT_RANDOM aa bb\n"),
                            ("packet", bytes([22]) + b"hello"),
                            ("packet", bytes([23]) + b"finished, encrypted")]
    assert capture.counts == {demux.STUN: 1, demux.DTLS: 2} and capture.key_logs == 1


def test_a_handshake_that_never_ends_holds_a_bounded_number_of_datagrams():
    sink = Sink()
    capture = Capture(sink)
    capture.handshake_started("call")
    for i in range(3 * 512):
        capture.wire(float(i), ("127.10.0.1", 1), ("127.10.0.2", 2), bytes([0x80, 0x60]), True)
        assert len(capture._held) <= 512
    capture.close()
    assert len(sink.written) == 3 * 512 and capture.unkeyed >= 2


def test_a_capture_file_must_be_pcapng_and_one_per_machine(tmp_path):
    class Host:
        tap = None
    host = Host()
    with pytest.raises(ValueError, match="pcapng"):
        CaptureFiles(host, tmp_path / "call.pcap", "Alice")
    files = CaptureFiles(host, tmp_path / "sub" / "call.pcapng", "Alice")
    assert host.tap is files.capture and files.plaintext_path.name == "call.rtp.pcapng"
    with pytest.raises(RuntimeError, match="already being captured"):
        CaptureFiles(host, tmp_path / "other.pcapng", "Alice")
    files.close()
    files.close()
    assert host.tap is None


# -- a real call, recorded ------------------------------------------------------------------------
def _ssrc(sdp: str) -> int:
    return int(re.search(r"a=ssrc:(\d+)", sdp).group(1))


async def test_a_two_person_call_recorded_and_read_by_tshark(tmp_path):
    """Alice's machine, recorded while Bob joins her call: each way STUN checks, then the
    DTLS handshake (its ClientHello from Bob, the answerer), then SRTP at 50 packets a second;
    tshark decrypts the handshake with the key log inside the file and reads the clear file as
    RTP with payload type 96, with the SSRCs of the SDP."""
    path = tmp_path / "call.pcapng"
    async with Lab() as lab:
        alice, bob, files = await recorded_call(lab, path, 3.0)
        alice_link, bob_link = alice.link_to("Bob"), bob.link_to("Alice")
        ssrcs = {_ssrc(alice_link.pc.localDescription.sdp): "Alice",
                 _ssrc(bob_link.pc.localDescription.sdp): "Bob"}
    assert bob_link.role == "answerer" and files.capture.key_logs == 1
    a, b = alice.host.address, bob.host.address

    rows = tshark("-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src",
                  "-e", "ip.dst", "-e", "udp.payload")
    wire = [(float(t), src, dst, bytes.fromhex(payload)) for t, src, dst, payload in rows]
    for src, dst in ((a, b), (b, a)):
        kinds = [demux.classify(d) for _, s, t, d in wire if (s, t) == (src, dst)]
        first = {kind: kinds.index(kind) for kind in (demux.STUN, demux.DTLS, demux.RTP)}
        assert first[demux.STUN] < first[demux.DTLS] < first[demux.RTP], kinds[:20]
        srtp = [t for t, s, d, data in wire if (s, d) == (src, dst)
                and demux.classify(data) == demux.RTP]
        steady = [t for t in srtp if t >= srtp[0] + 0.5]  # (after the first burst)
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        assert 48 <= rate <= 52, f"{src} -> {dst}: {rate:.1f} SRTP packets a second"
    hello = next((s, d) for _, s, d, data in wire if demux.classify(data) == demux.DTLS)
    assert hello == (b, a)  # the answerer is the DTLS client: it says ClientHello first

    handshake = tshark("-r", str(path), "-Y", "dtls.handshake", "-T", "fields", "-e", "ip.src",
                       "-e", "dtls.handshake.type")
    types = [(src, set(kinds.split(","))) for src, kinds in handshake]
    assert types[0] == (b, {"1"})  # ClientHello, from Bob
    assert [src for src, kinds in types if "20" in kinds] == [b, a]  # both Finished, decrypted
    five_tuples = {(s, d) for _, s, d, data in wire if demux.classify(data) == demux.RTP}
    assert five_tuples == {(a, b), (b, a)}

    rtp = tshark("-r", str(files.plaintext_path), "--enable-heuristic", "rtp_udp", "-Y", "rtp",
                 "-T", "fields", "-e", "rtp.ssrc", "-e", "rtp.p_type", "-e", "rtp.seq",
                 "-e", "rtp.timestamp", "-e", "rtp.marker")
    by_ssrc: dict[int, list[tuple[int, int]]] = {}
    for ssrc, payload_type, seq, timestamp, marker in rtp:
        assert payload_type == "96" and marker in ("1", "True")  # Opus; aiortc marks every one
        by_ssrc.setdefault(int(ssrc, 16), []).append((int(seq), int(timestamp)))
    assert set(by_ssrc) == set(ssrcs)
    for stream in by_ssrc.values():
        assert len(stream) >= 140
        assert all((s2 - s1) % 65536 == 1 and (t2 - t1) % 2**32 == 960
                   for (s1, t1), (s2, t2) in itertools.pairwise(stream))


# -- the fingerprint, pinning the handshake to the SDP -------------------------------------------
def _tampered(value):
    """``value`` with every SDP fingerprint in it changed (its first hex digit)."""
    if isinstance(value, str):
        return re.sub(r"(a=fingerprint:\S+ )([0-9A-F])",
                      lambda m: m.group(1) + ("1" if m.group(2) != "1" else "2"), value)
    if isinstance(value, dict):
        return {k: _tampered(v) for k, v in value.items()}
    return value


async def test_a_tampered_fingerprint_fails_the_call_on_both_ends_and_says_so(tmp_path):
    """Bob's answer has its a=fingerprint changed on its way to Alice (as a signaling server in
    the middle could): Alice refuses Bob's certificate, Bob's end closes too, nobody is drawn
    connected, and wait_connected says the fingerprints did not match."""
    async with Lab() as lab:
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob")
        emit = bob.emit

        async def in_the_middle(event, data):
            await emit(event, _tampered(data) if event == "webrtc-answer" else data)
        bob.emit = in_the_middle
        async with lab.capture(tmp_path / "refused.pcapng") as files:
            await bob.join_voice()
            with pytest.raises(TimeoutError) as raised:
                await lab.wait_connected(10)
        message = str(raised.value)
        assert "fingerprints did not match" in message and "(a call was refused)" in message
        assert alice.link_to("Bob").refused and not bob.link_to("Alice").refused
        assert alice.link_to("Bob").state == "failed"
        await bob.wait_until(lambda: bob.link_to("Alice").state == "closed", 5, "Bob's end closed")
        assert "closed the encrypted connection" in bob.link_to("Alice").failure
        graph = lab.graph()
        assert graph.edges["Alice", "Bob"]["state"] != "connected"
        assert files.capture.counts[demux.RTP] == 0  # no audio ever left either end


# -- the handshake, its keys, and the round trip, from a real call --------------------------------
def _records(path):
    with open(path, "rb") as file:
        return [r for r in pcapng.read(file) if isinstance(r, pcapng.Record)]


async def test_the_handshake_in_flights_and_its_keys_decrypt_the_wire(tmp_path):
    """The answerer (Bob) says ClientHello; four flights; both ends agree one cipher, one SRTP
    profile and the same keys; each end's fingerprint is the one in its SDP; and Alice's SRTP
    packet, taken from the wire and decrypted with the exported server key and salt, is the
    RTP packet of the clear file."""
    import pylibsrtp

    path = tmp_path / "call.pcapng"
    async with Lab() as lab:
        alice, bob, files = await recorded_call(lab, path, 0.5)
        ours, theirs = alice.link_to("Bob").dtls, bob.link_to("Alice").dtls
        bob_sdp = bob.link_to("Alice").pc.localDescription.sdp
    a, b = alice.host.address, bob.host.address
    wire = _records(path)
    flights = [(f.source[0], f.messages) for f in dtls.flights(wire)]
    assert flights[:4] == [
        (b, ("ClientHello",)),
        (a, ("ServerHello", "Certificate", "ServerKeyExchange", "CertificateRequest",
             "ServerHelloDone")),
        (b, ("Certificate", "ClientKeyExchange", "CertificateVerify", "ChangeCipherSpec",
             "Finished (encrypted)")),
        (a, ("ChangeCipherSpec", "Finished (encrypted)"))], flights
    assert (ours.role, theirs.role) == ("server", "client") and ours.keys == theirs.keys
    assert ours.version == "DTLSv1.2" and ours.cipher == theirs.cipher
    assert ours.srtp_profile == theirs.srtp_profile == "SRTP_AEAD_AES_256_GCM"
    assert f"a=fingerprint:sha-256 {ours.remote_fingerprint}" in bob_sdp
    assert ours.remote_fingerprint == theirs.local_fingerprint != ours.local_fingerprint

    srtp = next(r for r in wire if r.sent and demux.classify(r.payload) == demux.RTP)
    policy = pylibsrtp.Policy(key=ours.keys.server_key + ours.keys.server_salt,
                              ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
    clear = pylibsrtp.Session(policy).unprotect(srtp.payload)
    assert clear in {r.payload for r in _records(files.plaintext_path) if r.sent}
    assert srtp.payload[:12] == clear[:12] and srtp.payload[12:] != clear[12:]  # header clear

    # the views of notebook 07, on this call: tables and a drawing, no raw repr anywhere
    names = {a: "Alice", b: "Bob"}
    plain = _records(files.plaintext_path)
    shown = [packets.wire_table(wire, names), packets.flights_table(dtls.flights(wire), names),
             packets.session_table(ours), packets.rtp_header_table(clear),
             packets.rtp_table(plain, count=5), packets.round_trip_table(rtcp.round_trips(plain)),
             packets.eavesdropper_table(srtp, clear, names)]
    for table in shown:
        text = table._repr_html_()
        assert not re.search(r"<[\w.]+ object at 0x|\b[A-Z]\w+\(\w+=", text), text
    assert "Bob → Alice" in shown[0]._repr_html_() and "ClientHello" in shown[1]._repr_html_()
    header = packets.rtp_header_table(clear, packets.extmap(bob_sdp))._repr_html_()
    assert "header extension" in header and "sdes:mid" not in header
    assert 'id 1 (mid): &quot;0&quot;' in header
    assert "download='call.pcapng'" in packets.Downloads(path)._repr_html_()
    assert "Alice → Bob: " in packets.draw_second(plain, names).svg


async def test_round_trips_agree_with_tshark_report_by_report(tmp_path):
    """50 ms each way (Alice's NAT delays what crosses it, both ways): talklab's round trip,
    from the capture, is tshark's within 2 ms for every report; the RFC's formula on aiortc's
    bytes is as long or up to a frame (20 ms) longer (aiortc's SR carries the NTP time of its
    last RTP packet, not of the report)."""
    path = tmp_path / "call.pcapng"
    async with Lab(stun=True) as lab:
        alice = await lab.join("Alice", voice=True, nat=lab.nat("full-cone", latency=0.05))
        async with lab.capture(path) as files:
            await lab.join("Bob", voice=True)
            await lab.wait_connected(15)
            # RTCP goes every 0.5 to 1.5 s each way, and tshark computes a round trip only for
            # a report that echoes the last SR it saw: in 6 s, two of them now and then
            await alice.wait_heard(9.0, timeout=25)
    trips = rtcp.round_trips(_records(files.plaintext_path))
    rows = tshark("-r", str(files.plaintext_path), "--enable-heuristic", "rtcp_udp",
                  "-o", "rtcp.show_roundtrip_calculation:TRUE",
                  "-o", "rtcp.roundtrip_min_threshhold:0", "-Y", "rtcp.roundtrip-delay",
                  "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.dst",
                  "-e", "rtcp.roundtrip-delay")
    # (tshark computes one for reports Alice sends too: the time Alice held Bob's SR)
    theirs = {round(float(t), 6): int(ms) for t, to, ms in rows if to == alice.address}
    # (Wireshark remembers only the last SR each way: a report that echoes an older one,
    # because a newer SR crossed it, gets no figure from tshark; talklab remembers 64)
    assert len(theirs) >= 3 and len(trips) >= len(theirs)
    # (once the call is steady: in its first two seconds a busy process's loop can hold a
    # report or the voice back, which these reports then count; tshark must agree anyway)
    start = _records(files.plaintext_path)[0].t
    for trip in (t for t in trips if t.t >= start + 2.0):
        assert trip.measured is not None and 0.095 < trip.measured < 0.2, trip
        assert -0.001 <= trip.by_rfc - trip.measured <= 0.021, trip
    compared = [(trip, theirs[round(trip.t, 6)]) for trip in trips
                if round(trip.t, 6) in theirs]
    assert len(compared) == len(theirs)  # every report tshark computed, talklab computed too
    for trip, ms in compared:
        assert abs(1000 * trip.measured - ms) <= 2, (trip, ms)


def test_sixty_seconds_of_a_call_keep_the_capture_in_bounded_memory(tmp_path):
    """A minute of a call each way (6,000 SRTP packets, 120 SRTCP, a handshake) through the
    capture and its writers into real files: what the capture keeps in memory does not grow
    with the call (tracemalloc), while the files do."""
    import tracemalloc

    class Host:
        tap = None
    files = CaptureFiles(Host(), tmp_path / "minute.pcapng", "Alice")
    capture = files.capture
    a, b = ("127.10.0.1", 5000), ("127.10.0.2", 6000)
    rtp = bytes([0x80, 0xE0]) + bytes(10) + bytes(range(100))

    def seconds(start, count):
        for i in range(50 * count):
            t = start + i / 50
            capture.wire(t, a, b, rtp, True)
            capture.wire(t + 0.001, b, a, rtp, False)
            capture.plain(t, a, b, rtp, True)
            if i % 50 == 0:
                capture.wire(t, a, b, bytes([0x80, 0xC8]) + bytes(50), True)
    capture.handshake_started("call")
    capture.wire(0.0, b, a, bytes([22]) + bytes(200), False)
    capture.handshake_ended("call", b"CLIENT_RANDOM 00 11\n")
    seconds(1.0, 5)  # (warm: the files' buffers, the counters)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    seconds(6.0, 60)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    files.close()
    assert grown < 64_000, f"{grown} bytes kept for a minute of packets"
    assert files.path.stat().st_size > 60 * 100 * 100  # the minute went to disk


async def test_a_relayed_call_is_seen_as_channel_data_carrying_the_same_srtp(tmp_path):
    """Alice uses relays only: her machine talks to the TURN server, not to Bob. Her capture
    shows the TURN client's exchange with the server (Allocate, then ChannelData), and each
    ChannelData message unwraps to an SRTP packet whose header is in the clear: the TURN
    server is on the path like any other, and reads what any other reads."""
    async with Lab(turn=True) as lab:
        alice = await lab.join("Alice", voice=True, relay_only=True)
        async with lab.capture(tmp_path / "relayed.pcapng") as files:
            await lab.join("Bob", voice=True)
            await lab.wait_connected(15)
            await alice.wait_heard(1.0)
        assert alice.link_to("Bob").route == "relay"
        turn = lab.turn.address
    wire = _records(files.path)
    to_turn = [r for r in wire if r.sent and r.destination[1] == turn[1]]
    kinds = {demux.classify(r.payload) for r in to_turn}
    assert {demux.STUN, demux.CHANNEL_DATA} <= kinds, kinds  # Allocate..., then ChannelData
    inner = [demux.unwrap_channel_data(r.payload) for r in to_turn
             if demux.classify(r.payload) == demux.CHANNEL_DATA]
    srtp = [data for _, data in inner if demux.classify(data) == demux.RTP]
    assert len(srtp) >= 40  # a second of Alice's voice, through the relay
    # and none of Alice's voice left her machine outside the relay
    assert not [r for r in wire if r.sent and demux.classify(r.payload) == demux.RTP]
