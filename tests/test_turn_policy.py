"""TURN's peer policy like coturn's, one range at a time (issue 13: ``224.0.0.1`` and
``100.64.0.1`` got 200 by default; with private peers allowed, ``0.0.0.0`` and
``::ffff:127.0.0.1`` got 200 and reached a service bound to 127.0.0.1 while ``127.0.0.1`` itself
was refused).

Each range is judged three ways: by the pure policy (:class:`talklab.turn.policy.PeerPolicy`),
by the TURN core answering a CreatePermission (403, nothing relayed), and, for the two that
reached a real service, by a real TurnServer and a real UDP socket that must receive nothing.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from aioice import stun
from test_turn import Session, core

from talklab.turn import TurnServer
from talklab.turn.core import SendToPeer
from talklab.turn.policy import PeerPolicy

NEVER = {  # refused whatever is allowed
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "::ffff:224.0.0.1"],
    "broadcast": ["255.255.255.255", "::ffff:255.255.255.255"],
    "this host (0.0.0.0/8)": ["0.0.0.0", "0.1.2.3", "0.255.255.255", "::", "::ffff:0.0.0.0"],
}
UNLESS_PRIVATE = {  # refused unless allow_private
    "shared address space (100.64.0.0/10)": ["100.64.0.1", "100.127.255.254",
                                             "::ffff:100.64.0.1"],
    "private": ["10.1.2.3", "192.168.1.9", "::ffff:10.1.2.3"],
}
UNLESS_LOOPBACK = {"loopback": ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"]}
ALLOW_ALL = PeerPolicy(allow_loopback=True, allow_private=True)


def cases(table: dict[str, list[str]]) -> list:
    return [pytest.param(ip, id=f"{kind}: {ip}") for kind, ips in table.items() for ip in ips]


@pytest.mark.parametrize("ip", cases(NEVER))
def test_never_a_peer_even_with_everything_allowed(ip):
    assert PeerPolicy().refusal(ip) is not None
    assert ALLOW_ALL.refusal(ip) is not None


@pytest.mark.parametrize("ip", cases(UNLESS_PRIVATE))
def test_shared_and_private_only_when_private_peers_are_allowed(ip):
    assert PeerPolicy().refusal(ip) == "private peers are not allowed"
    assert PeerPolicy(allow_loopback=True).refusal(ip) is not None
    assert PeerPolicy(allow_private=True).refusal(ip) is None


@pytest.mark.parametrize("ip", cases(UNLESS_LOOPBACK))
def test_loopback_in_any_form_only_when_loopback_peers_are_allowed(ip):
    assert PeerPolicy().refusal(ip) == "loopback peers are not allowed"
    assert PeerPolicy(allow_private=True).refusal(ip) is not None  # ::ffff:127.0.0.1 too
    assert PeerPolicy(allow_loopback=True).refusal(ip) is None


def test_a_public_peer_is_allowed_and_a_bad_one_is_refused_clearly():
    assert PeerPolicy().refusal("8.8.8.8") is None  # a peer address, never contacted here
    assert PeerPolicy().refusal("not an address") == "bad peer address"


@pytest.mark.parametrize("ip", cases(NEVER) + cases(UNLESS_PRIVATE) + cases(UNLESS_LOOPBACK))
def test_the_core_answers_403_and_relays_nothing(ip):
    """A default TurnCore (no loopback, no private peers): CreatePermission and ChannelBind are
    refused with 403, and a Send indication to the peer sends nothing."""
    c, _ = core(allow_loopback_peers=False)
    s = Session(c)
    assert s.allocate().message_class == stun.Class.RESPONSE
    peer = (ip, 9)
    assert s.send(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": peer}).error_code == 403
    assert s.send(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4000,
                                               "XOR-PEER-ADDRESS": peer}).error_code == 403
    send = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
    send.attributes.update({"XOR-PEER-ADDRESS": peer, "DATA": b"hello"})
    assert not any(isinstance(a, SendToPeer) for a in c.handle_client(bytes(send), s.client))
    assert all(not a.permissions for a in c.allocations.values())
    assert c.counters.refused >= 2


@pytest.mark.parametrize("ip", [*cases(NEVER), pytest.param("::ffff:127.0.0.1", id="mapped")])
def test_with_private_peers_allowed_the_core_still_refuses(ip):
    c, _ = core(allow_loopback_peers=False, allow_private_peers=True)
    s = Session(c)
    s.allocate()
    assert s.send(stun.Method.CREATE_PERMISSION,
                  **{"XOR-PEER-ADDRESS": (ip, 9)}).error_code == 403


@pytest.mark.parametrize("ip", ["0.0.0.0", "::ffff:127.0.0.1"])
async def test_no_datagram_reaches_a_service_on_127_0_0_1_through_another_form(ip):
    """The two forms that reached a service bound to 127.0.0.1 with private peers allowed: a
    real TurnServer refuses the permission, and the service receives nothing."""
    from test_lab_turn import allocate, client_for

    service = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    service.bind(("127.0.0.1", 0))
    service.setblocking(False)
    try:
        async with TurnServer(users={"alice": "secret"}, allow_private_peers=True) as server:
            client = await client_for(server.address)
            answer, realm, nonce = await allocate(client, "alice", "secret")
            assert answer.message_class == stun.Class.RESPONSE
            peer = (ip, service.getsockname()[1])
            refused = await client.signed(stun.Method.CREATE_PERMISSION, "alice", "secret",
                                          realm, nonce, **{"XOR-PEER-ADDRESS": peer})
            assert refused.message_class == stun.Class.ERROR
            assert refused.attributes["ERROR-CODE"][0] == 403
            send = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
            send.attributes.update({"XOR-PEER-ADDRESS": peer, "DATA": b"hello"})
            client.transport.sendto(bytes(send))
            # The answer to a Binding request sent after it shows the server has handled the
            # indication; then the service must still have nothing waiting.
            binding = await client.ask(stun.Message(stun.Method.BINDING, stun.Class.REQUEST))
            assert binding.message_class == stun.Class.RESPONSE
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.get_running_loop().sock_recv(service, 100), 0.3)
            assert server.counters.refused >= 1
            client.transport.close()
    finally:
        service.close()
