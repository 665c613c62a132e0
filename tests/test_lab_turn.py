"""A lab's TURN server is the lab's alone: time-limited credentials only, and a relay that
reaches the lab's own hosts and nothing else on the machine."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
from aioice import stun

from talklab import Lab
from talklab.turn import rest_credentials
from talklab.turn.credentials import rest_password


class TurnClient(asyncio.DatagramProtocol):
    """Just enough TURN, by hand: Allocate with long-term credentials, CreatePermission, Send."""

    def __init__(self) -> None:
        self.answers: dict[bytes, asyncio.Future] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        message = stun.parse_message(data)
        future = self.answers.pop(message.transaction_id, None)
        if future is not None and not future.done():
            future.set_result(message)

    async def ask(self, request: stun.Message) -> stun.Message:
        future = asyncio.get_running_loop().create_future()
        self.answers[request.transaction_id] = future
        self.transport.sendto(bytes(request))
        return await asyncio.wait_for(future, 2)

    async def signed(self, method, username: str, password: str, realm: str, nonce: bytes,
                     **attributes) -> stun.Message:
        request = stun.Message(method, stun.Class.REQUEST)
        request.attributes.update(attributes)
        request.attributes.update(USERNAME=username, REALM=realm, NONCE=nonce)
        import hashlib
        request.add_message_integrity(hashlib.md5(f"{username}:{realm}:{password}".encode())
                                      .digest())
        return await self.ask(request)


async def client_for(turn_address) -> TurnClient:
    _, client = await asyncio.get_running_loop().create_datagram_endpoint(
        TurnClient, remote_addr=turn_address)
    return client


async def allocate(client: TurnClient, username: str, password: str):
    challenge = await client.ask(stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST))
    realm, nonce = challenge.attributes["REALM"], challenge.attributes["NONCE"]
    answer = await client.signed(stun.Method.ALLOCATE, username, password, realm, nonce,
                                 **{"REQUESTED-TRANSPORT": 17 << 24})
    return answer, realm, nonce


async def test_the_config_credentials_are_minted_per_request_and_expire():
    async with Lab(turn=True) as lab:
        async with aiohttp.ClientSession() as http:
            async with http.get(lab.url + "/config") as response:
                first = (await response.json())["iceServers"]
            async with http.get(lab.url + "/config") as response:
                second = (await response.json())["iceServers"]
        turn = next(s for s in first if str(s["urls"]).startswith("turn:"))
        assert turn["username"] != "talklab" and ":" in turn["username"]  # expiry:name
        assert turn["username"] != next(s for s in second
                                        if str(s["urls"]).startswith("turn:"))["username"] \
            or turn["username"].split(":")[0] == str(int(time.time()) + lab.config_ttl)
        expiry = int(turn["username"].split(":")[0])
        assert 0 < expiry - time.time() <= lab.config_ttl + 1
        client = await client_for(lab.turn.address)
        answer, *_ = await allocate(client, turn["username"], turn["credential"])
        assert answer.message_class == stun.Class.RESPONSE  # valid now
        later = await client_for(lab.turn.address)
        lab.turn.core.clock = lambda: time.time() + lab.config_ttl + 1  # their lifetime has passed
        lab.turn.core.credentials.clock = lab.turn.core.clock
        answer, *_ = await allocate(later, turn["username"], turn["credential"])
        assert answer.message_class == stun.Class.ERROR
        assert answer.attributes["ERROR-CODE"][0] == 401
        # a long-term password is not accepted at all: only the lab's secret mints credentials
        answer, *_ = await allocate(await client_for(lab.turn.address), "talklab", "talklab")
        assert answer.message_class == stun.Class.ERROR


async def test_with_the_config_credentials_no_datagram_reaches_another_loopback_port():
    async with Lab(turn=True) as lab:
        alice = await lab.join("Alice")
        outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # any local UDP service
        outsider.bind(("127.0.0.1", 0))
        outsider.setblocking(False)
        insider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a lab host's socket
        insider.bind((alice.host.address, 0))
        insider.setblocking(False)
        try:
            username, password = rest_credentials(lab.servers._turn_secret, "page", 60)
            assert rest_password(lab.servers._turn_secret, username) == password
            client = await client_for(lab.turn.address)
            answer, realm, nonce = await allocate(client, username, password)
            assert answer.message_class == stun.Class.RESPONSE
            refused = await client.signed(stun.Method.CREATE_PERMISSION, username, password,
                                          realm, nonce,
                                          **{"XOR-PEER-ADDRESS": outsider.getsockname()})
            assert refused.message_class == stun.Class.ERROR
            assert refused.attributes["ERROR-CODE"][0] == 403
            ok = await client.signed(stun.Method.CREATE_PERMISSION, username, password, realm,
                                     nonce, **{"XOR-PEER-ADDRESS": insider.getsockname()})
            assert ok.message_class == stun.Class.RESPONSE
            for target in (outsider, insider):
                send = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
                send.attributes["XOR-PEER-ADDRESS"] = target.getsockname()
                send.attributes["DATA"] = b"hello"
                client.transport.sendto(bytes(send))
            loop = asyncio.get_running_loop()
            arrived = await asyncio.wait_for(loop.sock_recv(insider, 100), 2)
            assert arrived == b"hello"  # the lab's own host: relayed
            try:  # the other port: nothing, not within the time the lab's packet took x 10
                await asyncio.wait_for(loop.sock_recv(outsider, 100), 0.5)
                raise AssertionError("a datagram reached a port outside the lab")
            except TimeoutError:
                pass
            assert lab.turn.counters.refused >= 1
        finally:
            outsider.close()
            insider.close()
