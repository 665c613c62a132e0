"""The signaling server's Engine.IO WebSocket transport (server/engine.py), from the outside:
raw WebSocket clients that misbehave, and Socket.IO clients on every transport."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest

from talklab.server import SignalingServer, engine
from talklab.signaling import SignalingClient

ROOM = "ENGINE"
OFFER = {"type": "offer", "sdp": "v=0\r\ns=engine\r\n"}


class RawClient:
    """Engine.IO v4 / Socket.IO v5 spoken by hand over aiohttp's WebSocket client."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session, self.ws = session, ws

    @classmethod
    async def connect(cls, url: str) -> RawClient:
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(url + "/socket.io/?EIO=4&transport=websocket")
        client = cls(session, ws)
        assert (await client.text()).startswith("0{")  # Engine.IO OPEN
        await ws.send_str("40")  # Socket.IO CONNECT to "/"
        connected = await client.text()
        assert connected.startswith("40{")
        client.sid = json.loads(connected[2:])["sid"]
        return client

    async def text(self, timeout: float = 5) -> str:
        msg = await self.ws.receive(timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return msg.data

    async def emit(self, event: str, data: dict) -> None:
        await self.ws.send_str("42" + json.dumps([event, data]))

    async def event(self, name: str, timeout: float = 5) -> dict:
        while True:
            text = await self.text(timeout)
            if text.startswith("42"):
                event, data = json.loads(text[2:])
                if event == name:
                    return data

    async def closed(self, timeout: float = 5) -> bool:
        """True once the server has closed the connection (anything else sent is skipped)."""
        async def wait() -> None:
            while (await self.ws.receive()).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                pass
        await asyncio.wait_for(wait(), timeout)
        return True

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


async def joined(client: SignalingClient | RawClient, name: str, voice: bool = True) -> None:
    await client.emit("joinRoom", {"room": ROOM, "username": name})
    if isinstance(client, RawClient):
        await client.event("roomJoined")
        if voice:
            await client.emit("joinVoice", {"room": ROOM})
            await client.event("voiceJoined")
        return
    await client.next("roomJoined")
    if voice:
        await client.emit("joinVoice", {"room": ROOM})
        await client.next("voiceJoined")


@pytest.mark.parametrize("transports", [("websocket",), ("polling",), ("polling", "websocket")],
                         ids=["websocket", "long-polling", "upgrade"])
async def test_every_transport_relays_in_order(server, transports):
    """A browser starts on long-polling and upgrades; talklab's people open a WebSocket at
    once. Either way a sender's packets arrive in the order they were sent."""
    alice = await SignalingClient("Alice").connect(server.url, transports=transports)
    bob = await SignalingClient("Bob").connect(server.url)
    await joined(alice, "Alice")
    await joined(bob, "Bob")
    for n in range(50):
        await alice.emit("webrtc-ice-candidate", {"to": bob.sid, "candidate": {
            "candidate": f"candidate:{n} 1 udp 1 127.0.0.1 {5000 + n} typ host", "sdpMid": "0"}})
        await bob.emit("webrtc-ice-candidate", {"to": alice.sid, "candidate": {
            "candidate": f"candidate:{n} 1 udp 1 127.0.0.1 {6000 + n} typ host", "sdpMid": "0"}})
    for receiver, port in ((bob, 5000), (alice, 6000)):
        got = [(await receiver.next("webrtc-ice-candidate"))["candidate"]["candidate"]
               for _ in range(50)]
        assert got == [f"candidate:{n} 1 udp 1 127.0.0.1 {port + n} typ host" for n in range(50)]
    for c in (alice, bob):
        await c.close()


async def test_a_frame_that_is_not_engine_io_closes_only_that_connection(server, clients):
    (alice,) = await clients("Alice")
    await joined(alice, "Alice")
    raw = await RawClient.connect(server.url)
    await joined(raw, "Raw")
    await raw.ws.send_str("not an engine.io packet")
    assert await raw.closed()
    assert await alice.next("userLeftVoice") == {"socketId": raw.sid}
    assert await alice.next("userLeftRoom") == {"socketId": raw.sid}
    (bob,) = await clients("Bob")  # and the server carries on
    await joined(bob, "Bob")
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    assert (await alice.next("webrtc-offer"))["from"] == bob.sid
    await raw.close()


async def test_a_client_that_stops_answering_pings_is_dropped():
    async with SignalingServer() as server:
        server.app.sio.eio.ping_interval, server.app.sio.eio.ping_timeout = 0.2, 0.3
        alice = await SignalingClient("Alice").connect(server.url)
        await joined(alice, "Alice")
        raw = await RawClient.connect(server.url)  # never answers the server's "2" (ping)
        await joined(raw, "Silent")
        assert await alice.next("userLeftVoice", timeout=10) == {"socketId": raw.sid}
        assert await raw.closed()
        await raw.close()
        await alice.close()


async def test_the_server_closing_a_socket_closes_its_websocket(server):
    raw = await RawClient.connect(server.url)
    await joined(raw, "Raw", voice=False)
    await server.app.sio.eio.disconnect(server.app.sio.manager.eio_sid_from_sid(raw.sid, "/"))
    assert await raw.text() == "1"  # Engine.IO CLOSE, then the WebSocket closes
    assert await raw.closed()
    assert raw.sid not in server.rooms.members
    await raw.close()


async def test_a_client_that_stops_reading_is_dropped_not_buffered_forever(server, clients,
                                                                            monkeypatch):
    """A client that never reads would make the server hold every message for it; past
    engine.MAX_BUFFERED unsent bytes it is disconnected instead."""
    monkeypatch.setattr(engine, "MAX_BUFFERED", 64 * 1024)
    (alice,) = await clients("Alice")
    await joined(alice, "Alice")
    raw = await RawClient.connect(server.url)
    await joined(raw, "Sleepy")
    # Stop reading: a small receive window, and nothing read from here on.
    raw.ws._response.connection.transport.pause_reading()
    sock = raw.ws._response.connection.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 10_000}  # 50 kB each
    for _ in range(200):
        await alice.emit("webrtc-offer", {"offer": big, "to": raw.sid})
        if alice.all("userLeftVoice"):
            break
    assert await alice.next("userLeftVoice", timeout=10) == {"socketId": raw.sid}
    assert server.app.sio.manager.eio_sid_from_sid(raw.sid, "/") is None  # gone for good
    raw.ws._response.connection.transport.abort()
    await raw.session.close()


def test_text_frames_follow_rfc_6455():
    """Server frames: FIN + text opcode, no mask, a 7-bit, 16-bit or 64-bit length."""
    assert engine.text_frame(b"hi") == b"\x81\x02hi"
    assert engine.text_frame(b"x" * 125)[:2] == b"\x81\x7d"
    assert engine.text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert engine.text_frame(b"x" * 65535)[:4] == b"\x81\x7e\xff\xff"
    assert engine.text_frame(b"x" * 65536)[:10] == b"\x81\x7f" + (65536).to_bytes(8, "big")
