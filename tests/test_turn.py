"""The TURN core, packet by packet (no sockets), and the server under fuzz."""

from __future__ import annotations

import asyncio
import base64
import hmac
import random

from aioice import stun
from helpers import mutated

from talklab.stun import dissect, long_term_key
from talklab.turn import TurnCore, TurnServer, rest_credentials
from talklab.turn.core import CloseRelay, SendToClient, SendToPeer

CLIENT, PEER, OTHER_PEER = ("127.10.0.1", 5000), ("127.10.0.2", 6000), ("127.10.0.3", 7000)
RELAY = ("127.0.0.1", 50000)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def core(**options):
    clock = Clock()
    relays = iter(range(50000, 50100))
    options.setdefault("users", {"alice": "secret"})
    options.setdefault("allow_loopback_peers", True)
    c = TurnCore(realm="lab", clock=clock, allocate_relay=lambda: ("127.0.0.1", next(relays)),
                 **options)
    return c, clock


def request(method, **attributes):
    m = stun.Message(method, stun.Class.REQUEST)
    m.attributes.update(attributes)
    return m


def one_reply(actions) -> stun.Message:
    replies = [a for a in actions if isinstance(a, SendToClient)]
    assert len(replies) == 1, actions
    return stun.parse_message(replies[0].data)


class Session:
    """A client talking to a TurnCore: signs requests once it has a nonce."""

    def __init__(self, core, user="alice", password="secret", client=CLIENT):
        self.core, self.user, self.password, self.client = core, user, password, client
        self.nonce = None

    def send(self, method, **attributes) -> stun.Message:
        m = request(method, **attributes)
        if self.nonce is not None:
            m.attributes.update(USERNAME=self.user, REALM="lab", NONCE=self.nonce)
            m.add_message_integrity(long_term_key(self.user, "lab", self.password))
        reply = one_reply(self.core.handle_client(bytes(m), self.client))
        if reply.error_code in (401, 438) and "NONCE" in reply.attributes and \
                self.nonce != reply.attributes["NONCE"]:
            self.nonce = reply.attributes["NONCE"]
            return self.send(method, **attributes)
        return reply

    def allocate(self, **attributes):
        return self.send(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": 17 << 24, **attributes})


def test_allocate_needs_credentials_then_gives_a_relay():
    c, _ = core()
    first = one_reply(c.handle_client(bytes(request(stun.Method.ALLOCATE, **{
        "REQUESTED-TRANSPORT": 17 << 24})), CLIENT))
    assert first.error_code == 401 and first.attributes["REALM"] == "lab"
    assert c.allocations == {}
    s = Session(c)
    reply = s.allocate()
    assert reply.message_class == stun.Class.RESPONSE
    assert reply.attributes["XOR-MAPPED-ADDRESS"] == CLIENT
    assert reply.attributes["XOR-RELAYED-ADDRESS"] == ("127.0.0.1", 50000)
    assert reply.attributes["LIFETIME"] == 600
    assert reply.check_message_integrity(long_term_key("alice", "lab", "secret"))
    # A second Allocate on the same five-tuple is a mismatch.
    assert s.allocate().error_code == 437


def test_a_wrong_password_allocates_and_relays_nothing():
    c, _ = core()
    s = Session(c, password="wrong")
    assert s.allocate().error_code == 401
    assert c.allocations == {} and c.counters.refused >= 1
    data = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
    data.attributes.update({"XOR-PEER-ADDRESS": PEER, "DATA": b"hello"})
    assert c.handle_client(bytes(data), CLIENT) == []


def test_stale_nonce_gets_438_with_a_fresh_one():
    c, _ = core()
    s = Session(c)
    s.allocate()
    stale = c.nonce_state
    c.nonce_state = lambda nonce: "stale"
    m = request(stun.Method.REFRESH, LIFETIME=600, USERNAME="alice", REALM="lab", NONCE=s.nonce)
    m.add_message_integrity(long_term_key("alice", "lab", "secret"))
    reply = one_reply(c.handle_client(bytes(m), CLIENT))
    assert reply.error_code == 438 and reply.attributes["NONCE"]
    c.nonce_state = stale


def test_permissions_channels_and_relaying_both_ways():
    c, _ = core()
    s = Session(c)
    relay = s.allocate().attributes["XOR-RELAYED-ADDRESS"]
    # No permission yet: nothing goes out, nothing comes in.
    send = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
    send.attributes.update({"XOR-PEER-ADDRESS": PEER, "DATA": b"hi"})
    assert c.handle_client(bytes(send), CLIENT) == []
    assert c.handle_peer(relay, b"hello?", PEER) == []
    # CreatePermission, then Send indication out and Data indication in.
    assert s.send(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": PEER}).message_class \
        == stun.Class.RESPONSE
    assert c.handle_client(bytes(send), CLIENT) == [SendToPeer(relay, b"hi", PEER)]
    (back,) = c.handle_peer(relay, b"hello", PEER)
    data = stun.parse_message(back.data)
    assert data.message_method == stun.Method.DATA
    assert data.attributes["DATA"] == b"hello" and data.attributes["XOR-PEER-ADDRESS"] == PEER
    # The permission is for the IP: another port of the same peer may answer too.
    assert c.handle_peer(relay, b"x", (PEER[0], 6001))
    # ChannelBind: then ChannelData both ways, 4 bytes of header instead of 36.
    assert s.send(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4000,
                                               "XOR-PEER-ADDRESS": PEER}).error_code is None
    assert c.handle_client(b"\x40\x00\x00\x03abc\x00", CLIENT) == [SendToPeer(relay, b"abc",
                                                                             PEER)]
    (back,) = c.handle_peer(relay, b"pong", PEER)
    assert back.data == b"\x40\x00\x00\x04pong"
    # A channel already bound to another peer is refused; bad numbers too.
    assert s.send(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4000,
                                               "XOR-PEER-ADDRESS": OTHER_PEER}).error_code == 400
    assert s.send(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x3FFF,
                                               "XOR-PEER-ADDRESS": OTHER_PEER}).error_code == 400
    assert c.counters.bytes_relayed == len(b"hi" + b"hello" + b"x" + b"abc" + b"pong")


def test_loopback_and_private_peers_are_refused_unless_allowed():
    c, _ = core(allow_loopback_peers=False)
    s = Session(c)
    s.allocate()
    for peer in (("127.0.0.5", 1), ("10.1.2.3", 1), ("192.168.1.9", 1)):
        reply = s.send(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": peer})
        assert reply.error_code == 403
    assert all(not a.permissions for a in c.allocations.values())


def test_refresh_zero_frees_and_time_expires_everything():
    c, clock = core()
    s = Session(c)
    s.allocate(LIFETIME=400)
    s.send(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": PEER})
    (allocation,) = c.allocations.values()
    clock.now += 301
    assert c.expire() == []
    assert allocation.permissions == {}  # permissions last 300 s
    clock.now += 100
    assert c.expire() == [CloseRelay(allocation.relay)] and c.allocations == {}
    s2 = Session(c, client=("127.10.0.9", 1))
    s2.allocate()
    m = s2.send(stun.Method.REFRESH, LIFETIME=0)
    assert m.attributes["LIFETIME"] == 0 and c.allocations == {}


def test_quota_and_a_retransmitted_allocate():
    c, _ = core(quota=1)
    s = Session(c)
    s.allocate()  # learns the nonce
    c.allocations.clear()
    c.by_relay.clear()
    m = request(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": 17 << 24, "USERNAME": "alice",
                                         "REALM": "lab", "NONCE": s.nonce})
    m.add_message_integrity(long_term_key("alice", "lab", "secret"))
    first = c.handle_client(bytes(m), CLIENT)
    again = c.handle_client(bytes(m), CLIENT)  # the response was lost; the client resends
    assert first == again and len(c.allocations) == 1
    other = Session(c, client=("127.10.0.9", 1))
    assert other.allocate().error_code == 486  # alice's quota is 1


def test_time_limited_credentials_from_a_shared_secret():
    c, _ = core(users={}, secret="s3cret")
    username, password = rest_credentials("s3cret", "bob")
    assert Session(c, user=username, password=password).allocate().error_code is None
    expired = "1000:bob"
    pw = base64.b64encode(hmac.new(b"s3cret", expired.encode(), "sha1").digest()).decode()
    assert Session(c, user=expired, password=pw, client=("127.10.0.9", 1)).allocate() \
        .error_code == 401


def test_binding_on_the_turn_port():
    c, _ = core()
    reply = one_reply(c.handle_client(bytes(request(stun.Method.BINDING)), CLIENT))
    assert reply.attributes["XOR-MAPPED-ADDRESS"] == CLIENT


async def test_turn_server_survives_a_fuzz_run_and_still_relays():
    async with TurnServer(users={"alice": "secret"}, allow_loopback_peers=True) as server:
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
        rng = random.Random(8656)
        seeds = [bytes(request(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": 17 << 24})),
                 bytes(request(stun.Method.BINDING)), b"\x40\x00\x00\x04abcd",
                 bytes(request(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4000}))]
        try:
            for packet in mutated(rng, seeds, 5000):
                transport.sendto(packet, server.address)
                await asyncio.sleep(0)  # one loop turn: the server reads one datagram a turn
            probe = request(stun.Method.BINDING)
            transport.sendto(bytes(probe), server.address)
            while True:
                d = dissect(await asyncio.wait_for(replies.get(), 2))
                if d.transaction_id == probe.transaction_id.hex():
                    break
            assert d["XOR-MAPPED-ADDRESS"] == transport.get_extra_info("sockname")
        finally:
            transport.close()
