"""The STUN dissector against RFC 5769's test vectors, its refusals, and the Binding server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

import pytest
from aioice import stun as aioice_stun
from helpers import mutated

from talklab.stun import StunServer, dissect, long_term_key

# RFC 5769 test vectors: the packets of sections 2.1-2.4, as hex, 4 bytes a group
SAMPLE_REQUEST = bytes.fromhex("""
    00010058 2112a442 b7e7a701 bc34d686 fa87dfae 80220010 5354554e 20746573 7420636c 69656e74
    00240004 6e0001ff 80290008 932ff9b1 51263b36 00060009 6576746a 3a683676 59202020 00080014
    9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2 80280004 e57a3bcf""")
SAMPLE_IPV4_RESPONSE = bytes.fromhex("""
    0101003c 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220 00200008
    0001a147 e112a643 00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7 80280004 c07d4c96""")
SAMPLE_IPV6_RESPONSE = bytes.fromhex("""
    01010048 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220 00200014
    0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9 00080014 a382954e 4be67bf1 1784c97c 8292c275
    bfe3ed41 80280004 c8fb0b4c""")
SAMPLE_LONG_TERM_REQUEST = bytes.fromhex("""
    00010060 2112a442 78ad3433 c6ad72c0 29da412e 00060012 e3839ee3 8388e383 aae38383 e382afe3
    82b90000 0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341 0014000b
    6578616d 706c652e 6f726700 00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666""")
PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"
TRANSACTION = "b7e7a701bc34d686fa87dfae"


def test_rfc5769_sample_request():
    d = dissect(SAMPLE_REQUEST, key=PASSWORD)
    assert (d.method, d.cls, d.transaction_id, d.magic_cookie) == (
        "Binding", "request", TRANSACTION, "0x2112a442")
    assert [a.name for a in d.attributes] == ["SOFTWARE", "PRIORITY", "ICE-CONTROLLED",
                                               "USERNAME", "MESSAGE-INTEGRITY", "FINGERPRINT"]
    assert d["SOFTWARE"] == "STUN test client" and d["USERNAME"] == "evtj:h6vY"
    assert d["PRIORITY"] == 0x6E0001FF and d["ICE-CONTROLLED"] == 0x932FF9B151263B36
    assert [a.offset for a in d.attributes] == [20, 40, 48, 60, 76, 100]
    assert d.integrity_ok is True and d.fingerprint_ok is True


@pytest.mark.parametrize("packet,ip", [(SAMPLE_IPV4_RESPONSE, "192.0.2.1"),
                                       (SAMPLE_IPV6_RESPONSE,
                                        "2001:db8:1234:5678:11:2233:4455:6677")])
def test_rfc5769_responses(packet, ip):
    d = dissect(packet, key=PASSWORD.encode())
    assert (d.method, d.cls) == ("Binding", "success response")
    assert d["SOFTWARE"] == "test vector"
    assert d["XOR-MAPPED-ADDRESS"] == (ip, 32853)
    xor = next(a for a in d.attributes if a.name == "XOR-MAPPED-ADDRESS")
    assert xor.steps[0] == "port: 0xa147 XOR 0x2112 = 0x8055 = 32853"
    assert d.integrity_ok is True and d.fingerprint_ok is True


def test_rfc5769_long_term_request():
    username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    key = long_term_key(username, "example.org", "The\u00adM\u00aatr\u2168")
    assert key == long_term_key(username, "example.org", "TheMatrIX")  # SASLprep applied
    d = dissect(SAMPLE_LONG_TERM_REQUEST, key=key)
    assert d["USERNAME"] == username and d["REALM"] == "example.org"
    assert d["NONCE"] == "f//499k954d6OL34oL9FSTvy64sA"
    assert d.integrity_ok is True and d.fingerprint_ok is None  # this one has no FINGERPRINT
    assert dissect(SAMPLE_LONG_TERM_REQUEST).integrity_ok is None  # no key, no verdict


@pytest.mark.parametrize("offset", [30, 64, 80])
def test_a_flipped_byte_fails_integrity_and_fingerprint(offset):
    damaged = bytearray(SAMPLE_REQUEST)
    damaged[offset] ^= 0x01
    d = dissect(bytes(damaged), key=PASSWORD)
    assert d.integrity_ok is False and d.fingerprint_ok is False


def test_the_dissection_renders_as_a_table():
    table = dissect(SAMPLE_IPV4_RESPONSE, key=PASSWORD)._repr_html_()
    assert "<table>" in table and "XOR-MAPPED-ADDRESS" in table and "valid" in table


MALFORMED = {
    "not bytes": "hello",
    "too short": SAMPLE_REQUEST[:19],
    "first bits set": b"\xc0" + SAMPLE_REQUEST[1:],
    "bad cookie": SAMPLE_REQUEST[:4] + b"\x00\x00\x00\x00" + SAMPLE_REQUEST[8:],
    "length not multiple of 4": SAMPLE_REQUEST[:2] + b"\x00\x57" + SAMPLE_REQUEST[4:],
    "length mismatch": SAMPLE_REQUEST[:-4],
    "truncated attribute header": SAMPLE_REQUEST[:2] + b"\x00\x04" + SAMPLE_REQUEST[4:20]
                                  + b"\x80\x22\x00\x10",
    "attribute overruns": SAMPLE_REQUEST[:2] + b"\x00\x08" + SAMPLE_REQUEST[4:20]
                          + b"\x80\x22\x00\x10SOFT",
    "bad address family": SAMPLE_IPV4_RESPONSE[:2] + b"\x00\x0c" + SAMPLE_IPV4_RESPONSE[4:20]
                          + b"\x00\x20\x00\x08\x00\x07\xa1\x47\xe1\x12\xa6\x43",
    "short address": SAMPLE_IPV4_RESPONSE[:2] + b"\x00\x08" + SAMPLE_IPV4_RESPONSE[4:20]
                     + b"\x00\x20\x00\x02\x00\x01\x00\x00",
    "integrity of 19 bytes": SAMPLE_REQUEST[:2] + b"\x00\x18" + SAMPLE_REQUEST[4:20]
                             + b"\x00\x08\x00\x13" + bytes(20),
    "attribute after fingerprint": SAMPLE_REQUEST[:2] + b"\x00\x5c" + SAMPLE_REQUEST[4:]
                                   + b"\x00\x25\x00\x00",
    "bad utf-8 username": SAMPLE_REQUEST[:2] + b"\x00\x08" + SAMPLE_REQUEST[4:20]
                          + b"\x00\x06\x00\x02\xff\xfe\x00\x00",
    "lifetime of 2 bytes": SAMPLE_REQUEST[:2] + b"\x00\x08" + SAMPLE_REQUEST[4:20]
                           + b"\x00\x0d\x00\x02\x00\x01\x00\x00",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_packets_raise_value_error(name):
    with pytest.raises(ValueError):
        dissect(MALFORMED[name])


def test_random_bytes_only_ever_raise_value_error():
    rng = random.Random(5769)
    for _ in range(3000):
        packet = bytearray(rng.choice([SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE,
                                       SAMPLE_LONG_TERM_REQUEST]))
        for _ in range(rng.randint(1, 4)):
            packet[rng.randrange(len(packet))] = rng.randrange(256)
        if rng.random() < 0.3:
            packet = packet[:rng.randrange(len(packet))]
        with contextlib.suppress(ValueError):
            dissect(bytes(packet), key=PASSWORD)


def binding_request(**attributes) -> aioice_stun.Message:
    message = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    message.attributes.update(attributes)
    return message


class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.replies: asyncio.Queue = asyncio.Queue()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.replies.put_nowait((data, addr))


async def ask(client, server_address, **attributes):
    request = binding_request(**attributes)
    client.transport.sendto(bytes(request), server_address)
    while True:  # answers to earlier (fuzzed) requests may still be in flight: skip them
        data, origin = await asyncio.wait_for(client.replies.get(), 2)
        d = dissect(data)
        if d.transaction_id == request.transaction_id.hex():
            assert d.fingerprint_ok
            return d, origin


async def test_binding_server_mirrors_and_supports_rfc5780():
    async with StunServer() as server:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            Client, local_addr=("127.10.200.1", 0))
        me = transport.get_extra_info("sockname")
        try:
            d, origin = await ask(client, server.address)
            assert d["XOR-MAPPED-ADDRESS"] == me and d["MAPPED-ADDRESS"] == me
            assert origin == server.address and d["RESPONSE-ORIGIN"] == server.address
            other = d["OTHER-ADDRESS"]
            assert other[0] == "127.0.0.2" and other[1] != server.address[1]
            # CHANGE-REQUEST: the answer comes from the other IP and/or port.
            _, origin = await ask(client, server.address, **{"CHANGE-REQUEST": 0x06})
            assert origin == other
            _, origin = await ask(client, server.address, **{"CHANGE-REQUEST": 0x02})
            assert origin == (server.address[0], other[1])
            # Garbage gets no answer, and the server keeps answering.
            for junk in (b"", b"\x00" * 19, os.urandom(200), SAMPLE_IPV4_RESPONSE):
                transport.sendto(junk, server.address)
            d, _ = await ask(client, other)
            assert d["XOR-MAPPED-ADDRESS"] == me
            assert server.counters.ignored >= 3  # (an empty datagram may not arrive at all)
        finally:
            transport.close()


async def test_stun_server_survives_a_fuzz_run():
    async with StunServer() as server:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            Client, local_addr=("127.0.0.1", 0))
        rng = random.Random(8489)
        seeds = [SAMPLE_REQUEST, bytes(binding_request()), bytes(binding_request(
            **{"CHANGE-REQUEST": 6})), SAMPLE_LONG_TERM_REQUEST]
        try:
            for packet in mutated(rng, seeds, 5000):
                transport.sendto(packet, server.address)
                await asyncio.sleep(0)  # one loop turn: the server reads one datagram a turn
            d, _ = await ask(client, server.address)
            assert d["XOR-MAPPED-ADDRESS"] == transport.get_extra_info("sockname")
            assert server.counters.received > 4900  # the fuzz really reached the server
        finally:
            transport.close()
