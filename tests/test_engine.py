"""The signaling server's Engine.IO WebSocket transport (server/engine.py), from the outside:
raw WebSocket clients that misbehave, and Socket.IO clients on every transport; and the fast
path's check of the internals it needs (server/fastpath.py).

Every test here runs on both paths (the ``fast_path`` fixture) unless it tests something only
the fast path does.
"""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest

from talklab.browser.signaling import SignalingClient
from talklab.server import SignalingServer, engine

only_fast_path = pytest.mark.parametrize("fast_path", [True], ids=["fast-path"])

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
async def test_every_transport_relays_in_order(server, transports, monkeypatch):
    """A browser starts on long-polling and upgrades; talklab's people open a WebSocket at
    once. Either way a sender's packets arrive in the order they were sent."""
    # The server answers a long-poll with everything queued (as engine.io does); the python
    # client under test would refuse more than 16 packets in one answer (browsers have no such
    # limit). This raises the test client's limit, not the server's.
    from engineio import payload
    monkeypatch.setattr(payload.Payload, "max_decode_packets", 256)
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
    # The server first: python-engineio's own loop holds a long-polling client's last GET
    # (30 s) when that client hangs up first.
    await server.close()
    for c in (alice, bob):
        await c.close()


async def test_a_frame_that_is_not_engine_io_closes_only_that_connection(server, clients):
    """The WebSocket closes at once, as engine.io's does. The fast path frees the seat at once
    too; python-engineio's own loop only at the ping timeout (its reader stops on the error,
    its socket lives on until then), so there the pings are made quick."""
    if not server.fast_path_active:
        server.app.sio.eio.ping_interval, server.app.sio.eio.ping_timeout = 0.5, 1
    (alice,) = await clients("Alice")
    await joined(alice, "Alice")
    raw = await RawClient.connect(server.url)
    await joined(raw, "Raw")
    await raw.ws.send_str("not an engine.io packet")
    assert await raw.closed()
    assert await alice.next("userLeftVoice") == {"socketId": raw.sid, "room": ROOM}
    assert await alice.next("userLeftRoom") == {"socketId": raw.sid, "room": ROOM}
    (bob,) = await clients("Bob")  # and the server carries on
    await joined(bob, "Bob")
    await bob.emit("webrtc-offer", {"offer": OFFER, "to": alice.sid})
    assert (await alice.next("webrtc-offer"))["from"] == bob.sid
    await raw.close()


async def test_a_client_that_stops_answering_pings_is_dropped(fast_path):
    async with SignalingServer(fast_path=fast_path) as server:
        server.app.sio.eio.ping_interval, server.app.sio.eio.ping_timeout = 0.2, 0.3
        alice = await SignalingClient("Alice").connect(server.url)
        await joined(alice, "Alice")
        raw = await RawClient.connect(server.url)  # never answers the server's "2" (ping)
        await joined(raw, "Silent")
        assert await alice.next("userLeftVoice", timeout=10) == {"socketId": raw.sid, "room": ROOM}
        assert await raw.closed()
        await raw.close()
        await alice.close()


async def test_the_server_closing_a_socket_closes_its_websocket(server):
    """Engine.IO CLOSE, then (on the fast path) the WebSocket itself. python-engineio's own
    loop closes the WebSocket only when its writer next times out (a Socket.IO client closes
    it on the CLOSE packet anyway)."""
    raw = await RawClient.connect(server.url)
    await joined(raw, "Raw", voice=False)
    await server.app.sio.eio.disconnect(server.app.sio.manager.eio_sid_from_sid(raw.sid, "/"))
    assert await raw.text() == "1"
    if server.fast_path_active:
        assert await raw.closed()
    assert await server.members(ROOM) == []
    await raw.close()


@only_fast_path
async def test_a_client_that_stops_reading_is_dropped_not_buffered_forever(server, clients,
                                                                            monkeypatch):
    """A client that never reads would make the server hold every message for it; past
    Limits.max_unread_bytes unsent bytes it is disconnected instead."""
    from talklab.server import Limits
    server.app.sio.eio.talklab_limits = Limits(max_unread_bytes=64 * 1024)
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
    assert await alice.next("userLeftVoice", timeout=10) == {"socketId": raw.sid, "room": ROOM}
    assert server.app.sio.manager.eio_sid_from_sid(raw.sid, "/") is None  # gone for good
    raw.ws._response.connection.transport.abort()
    await raw.session.close()


def test_frames_follow_rfc_6455():
    """Server frames: FIN + opcode (0x1 text, 0x2 binary), no mask, a 7-bit, 16-bit or 64-bit
    length."""
    assert engine.text_frame(b"hi") == b"\x81\x02hi"
    assert engine.binary_frame(b"\x00\xff") == b"\x82\x02\x00\xff"
    assert engine.binary_frame(b"x" * 300)[:4] == b"\x82\x7e\x01\x2c"
    assert engine.text_frame(b"x" * 125)[:2] == b"\x81\x7d"
    assert engine.text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert engine.text_frame(b"x" * 65535)[:4] == b"\x81\x7e\xff\xff"
    assert engine.text_frame(b"x" * 65536)[:10] == b"\x81\x7f" + (65536).to_bytes(8, "big")


# -- one order on the wire -------------------------------------------------------------------------
async def raw_frames(raw: RawClient, n: int, timeout: float = 5) -> list[tuple[str, str | bytes]]:
    """The next ``n`` frames as (kind, payload), pings skipped."""
    out: list[tuple[str, str | bytes]] = []
    while len(out) < n:
        msg = await raw.ws.receive(timeout)
        assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
        if msg.data != "2":
            out.append(("text" if msg.type is aiohttp.WSMsgType.TEXT else "binary", msg.data))
    return out


async def test_a_packet_with_binary_attachments_leaves_header_first(server):
    """A Socket.IO packet with binary attachments is a text header ("451-" + JSON with a
    placeholder per attachment) and one binary frame per attachment, which the receiver can
    only put together in that order. Packets sent before and after it, in the same turn of
    the loop, keep their places too."""
    raw = await RawClient.connect(server.url)
    sio = server.app.sio
    await asyncio.gather(
        sio.emit("before", {"n": 1}, to=raw.sid),
        sio.emit("blob", {"a": b"\x01\x02\x03", "b": b"\x04\x05"}, to=raw.sid),
        sio.emit("after", {"n": 2}, to=raw.sid))
    frames = await raw_frames(raw, 5)
    assert [kind for kind, _ in frames] == ["text", "text", "binary", "binary", "text"]
    assert frames[0][1] == '42["before",{"n":1}]'
    header = frames[1][1]
    assert isinstance(header, str) and header.startswith("452-[")
    event, data = json.loads(header[len("452-"):])
    assert event == "blob" and data == {"a": {"_placeholder": True, "num": 0},
                                        "b": {"_placeholder": True, "num": 1}}
    assert [payload for _, payload in frames[2:4]] == [b"\x01\x02\x03", b"\x04\x05"]
    assert frames[4][1] == '42["after",{"n":2}]'
    await raw.close()


async def test_a_socketio_client_gets_binary_events_whole(server):
    """The same, seen by python-socketio's client: the attachments are put back in place."""
    got = asyncio.get_running_loop().create_future()
    client = SignalingClient("Bin")
    client.sio.on("blob", lambda data: got.set_result(data))
    await client.connect(server.url)
    await server.app.sio.emit("blob", {"a": b"\x00" * 70_000, "b": [b"x", "y"]}, to=client.sid)
    assert await asyncio.wait_for(got, 5) == {"a": b"\x00" * 70_000, "b": [b"x", "y"]}
    await client.close()


# -- the fast path, honest ------------------------------------------------------------------------
def test_the_fast_path_is_active_on_the_pinned_versions():
    """The versions installed are the ones pyproject.toml pins, and on them every internal
    the fast path needs is there."""
    import tomllib
    from importlib import metadata
    from pathlib import Path

    from talklab.server import fastpath
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    pins = dict(d.split("==") for d in pyproject["project"]["dependencies"] if "==" in d)
    for dist in ("python-socketio", "python-engineio", "aiohttp"):
        assert metadata.version(dist) == pins[dist], dist
    sio = fastpath.socketio_server(fast_path=True)
    assert fastpath.problems(sio.eio) == []
    assert sio.fast_path_active


async def test_a_server_is_on_the_fast_path_unless_told_otherwise():
    async with SignalingServer() as fast, SignalingServer(fast_path=False) as stock:
        assert fast.fast_path_active and not stock.fast_path_active
        for server, kind in ((fast, engine.DirectSocket), (stock, None)):
            c = await SignalingClient("C").connect(server.url)
            (sock,) = server.app.sio.eio.sockets.values()
            assert isinstance(sock, engine.DirectSocket) == (kind is not None)
            await c.close()


def _old_close(self, wait=True, abort=False):  # an AsyncSocket.close without `reason`
    raise AssertionError("never called on the fallback path")


@pytest.mark.parametrize("breakage", ["close-signature", "no-websocket-handler",
                                      "driver-without-sock", "socketio-connect-hook"])
def test_every_missing_internal_is_named(monkeypatch, breakage):
    from engineio.async_socket import AsyncSocket

    from talklab.server import fastpath
    if breakage == "close-signature":
        monkeypatch.setattr(AsyncSocket, "close", _old_close)
        expected = "close"
    elif breakage == "no-websocket-handler":
        monkeypatch.delattr(AsyncSocket, "_websocket_handler")
        expected = "_websocket_handler is missing"
    elif breakage == "driver-without-sock":
        import engineio.async_drivers.aiohttp as driver

        class WebSocket:
            async def __call__(self, environ):
                return environ

        monkeypatch.setattr(driver, "WebSocket", WebSocket)
        expected = "no longer uses _sock"
    else:
        import socketio
        monkeypatch.delattr(socketio.AsyncServer, "_handle_eio_connect")
        expected = "_handle_eio_connect"
    found = fastpath.problems()
    assert any(expected in p for p in found), found


async def test_a_missing_internal_gives_one_warning_and_engineios_own_loop(monkeypatch, caplog):
    """python-engineio without AsyncSocket.close(reason=...) (4.10, say): one clear warning,
    and the server runs on python-engineio's own loop, and works."""
    from engineio.async_socket import AsyncSocket
    stock_close = AsyncSocket.close

    async def close_without_reason(self, wait=True, abort=False):
        await stock_close(self, wait=wait, abort=abort)

    monkeypatch.setattr(AsyncSocket, "close", close_without_reason)
    with caplog.at_level("WARNING", logger="talklab.server"):
        server = SignalingServer()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "fast WebSocket path is off" in message and "close" in message
    assert "python-engineio 4.15.1" in message
    assert not server.fast_path_active
    async with server:
        alice = await SignalingClient("Alice").connect(server.url)
        bob = await SignalingClient("Bob").connect(server.url)
        await joined(alice, "Alice")
        await joined(bob, "Bob")
        await alice.emit("webrtc-offer", {"offer": OFFER, "to": bob.sid})
        assert (await bob.next("webrtc-offer"))["from"] == alice.sid
        assert not any(isinstance(s, engine.DirectSocket)
                       for s in server.app.sio.eio.sockets.values())
        for c in (alice, bob):
            await c.close()


async def test_permessage_deflate_is_declined_only_by_talklabs_own_sockets():
    """The fast path answers WebSocket upgrades without compression (RFC 7692: the server may
    decline the client's offer); a python-engineio server on its own loop in the same process
    keeps aiohttp's default and accepts it."""
    async with SignalingServer() as fast, SignalingServer(fast_path=False) as stock, \
            aiohttp.ClientSession() as session:
        for server, negotiated in ((fast, 0), (stock, 15)):
            ws = await session.ws_connect(server.url + "/socket.io/?EIO=4&transport=websocket",
                                          compress=15)
            assert ws.compress == negotiated, server.fast_path_active
            await ws.close()
