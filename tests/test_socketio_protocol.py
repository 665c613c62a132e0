"""Engine.IO v4 / Socket.IO v5 compliance of talklab's transport stack, spoken by hand.

Modelled on the cases of Socket.IO's published server test suite (socket.io-protocol,
``test-suite/``): handshake on long-polling and WebSocket, bad EIO / transport / method,
heartbeat, close, upgrade; then Socket.IO namespace connect and connect_error, events, acks,
binary events and acks, disconnect from either side, and malformed packets closing the
transport. The test server behaves like the suite's reference server: on connect it emits
``auth`` with the client's auth payload, ``message`` is echoed as ``message-back``,
``message-with-ack`` is acknowledged with its own arguments, ``/custom`` is a second namespace.

Every case runs against three servers built the same way: stock python-socketio (the
reference), talklab's stack on its fast WebSocket path, and talklab's stack on
python-engineio's own loop. What stock does, talklab must do too, on both paths.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio
from aiohttp import web

from talklab.server import fastpath
from talklab.server.app import SOCKETIO_OPTIONS

PING_INTERVAL, PING_TIMEOUT = 1, 1  # seconds (python-engineio rounds the interval to seconds)
MAX_PAYLOAD = 1_000_000
PLACEHOLDERS = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'


def suite_handlers(sio: socketio.AsyncServer) -> None:
    """What the suite's reference server does, for "/" and "/custom"."""
    for namespace in ("/", "/custom"):
        def on_connect(sid, environ, auth=None, namespace=namespace):
            # After the CONNECT answer: the suite expects "40..." first, then the auth event.
            sio.start_background_task(sio.emit, "auth", auth or {}, to=sid,
                                      namespace=namespace)

        async def on_message(sid, *args, namespace=namespace):
            await sio.emit("message-back", args, to=sid, namespace=namespace)

        async def on_message_with_ack(sid, *args):
            return args

        async def on_disconnect_me(sid, *args, namespace=namespace):
            await sio.disconnect(sid, namespace=namespace)

        sio.on("connect", on_connect, namespace=namespace)
        sio.on("message", on_message, namespace=namespace)
        sio.on("message-with-ack", on_message_with_ack, namespace=namespace)
        sio.on("disconnect-me", on_disconnect_me, namespace=namespace)


@pytest.fixture(params=["stock", "fast-path", "engineio-loop"])
async def url(request):
    """A Socket.IO server with the suite's handlers: ``http://127.0.0.1:PORT``."""
    settings = {"ping_interval": PING_INTERVAL, "ping_timeout": PING_TIMEOUT,
                "max_http_buffer_size": MAX_PAYLOAD}
    if request.param == "stock":
        sio = socketio.AsyncServer(async_mode="aiohttp", **settings)
    else:
        sio = fastpath.socketio_server(fast_path=request.param == "fast-path",
                                       **SOCKETIO_OPTIONS, **settings)
        assert sio.fast_path_active == (request.param == "fast-path")
    suite_handlers(sio)
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for sock in list(sio.eio.sockets.values()):
        await sock.close(wait=False)
    await sio.shutdown()
    await runner.cleanup()


class Raw:
    """A WebSocket spoken by hand: every frame as it arrives, text or binary."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def frame(self, timeout: float = 5, pings: bool = False) -> str | bytes:
        """The next text or binary frame (Engine.IO pings "2" skipped unless ``pings``)."""
        while True:
            msg = await self.ws.receive(timeout)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise AssertionError(f"expected a frame, got {msg}")
            if pings or msg.data != "2":
                return msg.data

    async def closed(self, timeout: float = 5) -> None:
        """Wait until the server closes the connection (frames before that are skipped)."""
        async def wait() -> None:
            while (await self.ws.receive()).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                pass
        await asyncio.wait_for(wait(), timeout)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)


def ws_url(url: str, query: str = "EIO=4&transport=websocket") -> str:
    return url.replace("http", "ws") + "/socket.io/?" + query


async def open_ws(http, url, query="EIO=4&transport=websocket") -> Raw:
    return Raw(await http.ws_connect(ws_url(url, query), autoping=True))


async def engine_open(http, url) -> Raw:
    raw = await open_ws(http, url)
    assert (await raw.frame()).startswith("0{")
    return raw


async def socketio_open(http, url, namespace: str = "") -> Raw:
    """Engine.IO handshake, Socket.IO CONNECT, its answer and the suite's ``auth`` event."""
    raw = await engine_open(http, url)
    await raw.send(f"40{namespace}," if namespace else "40")
    assert (await raw.frame()).startswith(f"40{namespace},{{" if namespace else "40{")
    assert await raw.frame() == f'42{namespace + "," if namespace else ""}["auth",{{}}]'
    return raw


async def polling_open(http, url) -> str:
    async with http.get(url + "/socket.io/?EIO=4&transport=polling") as r:
        assert r.status == 200
        text = await r.text()
    assert text.startswith("0")
    return json.loads(text[1:])["sid"]


def polling(url: str, sid: str) -> str:
    return f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"


# -- Engine.IO: handshake ------------------------------------------------------------------------
async def test_polling_handshake_opens_a_session(http, url):
    async with http.get(url + "/socket.io/?EIO=4&transport=polling") as r:
        assert r.status == 200
        text = await r.text()
    assert text.startswith("0")
    value = json.loads(text[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str) and value["upgrades"] == ["websocket"]
    assert value["pingInterval"] == PING_INTERVAL * 1000
    assert value["pingTimeout"] == PING_TIMEOUT * 1000
    assert value["maxPayload"] == MAX_PAYLOAD


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling",
                                   "EIO=3&transport=polling", "EIO=4&transport=abc"])
async def test_polling_handshake_refuses_a_bad_eio_or_transport(http, url, query):
    async with http.get(url + "/socket.io/?" + query) as r:
        assert r.status == 400


async def test_polling_handshake_refuses_a_bad_method(http, url):
    async with http.post(url + "/socket.io/?EIO=4&transport=polling", data="") as r:
        assert r.status == 400
    async with http.put(url + "/socket.io/?EIO=4&transport=polling", data="") as r:
        assert r.status in (400, 405)


async def test_websocket_handshake_opens_a_session(http, url):
    raw = await open_ws(http, url)
    value = json.loads((await raw.frame())[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert value["upgrades"] == [] and value["maxPayload"] == MAX_PAYLOAD
    await raw.ws.close()


@pytest.mark.parametrize("query", ["transport=websocket", "EIO=abc&transport=websocket",
                                   "EIO=4&transport=abc"])
async def test_websocket_handshake_refuses_a_bad_eio_or_transport(http, url, query):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(url, query))
    assert refused.value.status == 400


# -- Engine.IO: heartbeat, close, upgrade ----------------------------------------------------------
async def test_polling_ping_pong(http, url):
    sid = await polling_open(http, url)
    for _ in range(2):
        async with http.get(polling(url, sid)) as r:  # the server pings after the interval
            assert r.status == 200 and await r.text() == "2"
        async with http.post(polling(url, sid), data="3") as r:
            assert r.status == 200


async def test_polling_session_closes_upon_ping_timeout(http, url):
    sid = await polling_open(http, url)
    async with http.get(polling(url, sid)) as r:
        assert await r.text() == "2"  # never answered
    async def refused() -> None:
        while True:
            async with http.get(polling(url, sid)) as r:
                if r.status == 400:
                    return
    await asyncio.wait_for(refused(), (PING_INTERVAL + PING_TIMEOUT) * 3)


async def test_websocket_ping_pong(http, url):
    raw = await engine_open(http, url)
    for _ in range(2):
        assert await raw.frame(timeout=PING_INTERVAL * 3, pings=True) == "2"
        await raw.send("3")
    await raw.ws.close()


async def test_websocket_closes_upon_ping_timeout(http, url):
    raw = await engine_open(http, url)
    await raw.closed(timeout=(PING_INTERVAL + PING_TIMEOUT) * 3)


async def test_polling_close_from_client(http, url):
    sid = await polling_open(http, url)
    async with http.post(polling(url, sid), data="1") as r:
        assert r.status == 200
    async with http.get(polling(url, sid)) as r:
        assert r.status == 400


async def test_websocket_close_from_client(http, url):
    raw = await engine_open(http, url)
    await raw.send("1")
    await raw.closed()


async def test_upgrade_from_polling_to_websocket(http, url):
    sid = await polling_open(http, url)
    raw = await open_ws(http, url, f"EIO=4&transport=websocket&sid={sid}")
    await raw.send("2probe")
    assert await raw.frame() == "3probe"
    await raw.send("5")
    await raw.send("40")
    answer = await raw.frame()
    while answer == "6":  # the NOOP that ended the pending long-poll may come this way
        answer = await raw.frame()
    assert answer.startswith("40{")
    async with http.get(polling(url, sid)) as r:  # HTTP requests after the upgrade: refused
        assert r.status == 400
    try:  # and a second WebSocket for the same session too
        second = await http.ws_connect(ws_url(url, f"EIO=4&transport=websocket&sid={sid}"))
    except aiohttp.WSServerHandshakeError as refused:
        assert refused.status == 400
    else:
        await Raw(second).closed()
    await raw.ws.close()


# -- Socket.IO: connect ----------------------------------------------------------------------------
async def test_connect_to_the_main_namespace(http, url):
    raw = await engine_open(http, url)
    await raw.send("40")
    handshake = await raw.frame()
    assert handshake.startswith("40{") and set(json.loads(handshake[2:])) == {"sid"}
    assert await raw.frame() == '42["auth",{}]'


async def test_connect_with_a_payload(http, url):
    raw = await engine_open(http, url)
    await raw.send('40{"token":"123"}')
    assert (await raw.frame()).startswith("40{")
    assert await raw.frame() == '42["auth",{"token":"123"}]'


async def test_connect_to_a_custom_namespace(http, url):
    raw = await engine_open(http, url)
    await raw.send('40/custom,{"token":"abc"}')
    handshake = await raw.frame()
    assert handshake.startswith("40/custom,{")
    assert set(json.loads(handshake[len("40/custom,"):])) == {"sid"}
    assert await raw.frame() == '42/custom,["auth",{"token":"abc"}]'


async def test_connect_to_an_unknown_namespace_is_a_connect_error(http, url):
    """CONNECT_ERROR for the namespace. (The suite expects ``{"message": ...}``; python-socketio
    sends the message as a bare string, and talklab as python-socketio does.)"""
    raw = await engine_open(http, url)
    await raw.send("40/random,")
    answer = await raw.frame()
    assert answer.startswith("44/random,")
    payload = json.loads(answer[len("44/random,"):])
    message = payload["message"] if isinstance(payload, dict) else payload
    assert isinstance(message, str) and message
    await raw.send('42["message","main still works"]')  # and the connection stays usable
    await raw.send("40")
    assert (await raw.frame()).startswith("40{")


# -- Socket.IO: events and acks --------------------------------------------------------------------
async def test_event(http, url):
    raw = await socketio_open(http, url)
    await raw.send('42["message",1,"2",{"3":[true]}]')
    assert await raw.frame() == '42["message-back",1,"2",{"3":[true]}]'


async def test_event_with_an_ack(http, url):
    raw = await socketio_open(http, url)
    await raw.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert await raw.frame() == '43456[1,"2",{"3":[false]}]'


async def test_event_with_binary_attachments(http, url):
    """The header leaves first, then each attachment in order: a receiver rebuilds the packet
    from the header's placeholders and the binary frames that follow it."""
    raw = await socketio_open(http, url)
    await raw.send(f'452-["message",{PLACEHOLDERS}]')
    await raw.send(bytes([1, 2, 3]))
    await raw.send(bytes([4, 5, 6]))
    got = [await raw.frame() for _ in range(3)]
    assert got == [f'452-["message-back",{PLACEHOLDERS}]', bytes([1, 2, 3]), bytes([4, 5, 6])]


async def test_ack_with_binary_attachments(http, url):
    raw = await socketio_open(http, url)
    await raw.send(f'452-789["message-with-ack",{PLACEHOLDERS}]')
    await raw.send(bytes([1, 2, 3]))
    await raw.send(bytes([4, 5, 6]))
    got = [await raw.frame() for _ in range(3)]
    assert got == [f"462-789[{PLACEHOLDERS}]", bytes([1, 2, 3]), bytes([4, 5, 6])]


async def test_event_in_a_custom_namespace(http, url):
    raw = await socketio_open(http, url, "/custom")
    await raw.send('42/custom,["message","hi"]')
    assert await raw.frame() == '42/custom,["message-back","hi"]'


# -- Socket.IO: disconnect -------------------------------------------------------------------------
async def test_disconnect_from_a_custom_namespace_keeps_the_main_one(http, url):
    raw = await socketio_open(http, url)
    await raw.send("40/custom,")
    assert (await raw.frame()).startswith("40/custom,")
    assert await raw.frame() == '42/custom,["auth",{}]'
    await raw.send("41/custom,")
    await raw.send('42["message","to main"]')
    assert await raw.frame() == '42["message-back","to main"]'


async def test_disconnect_from_the_server(http, url):
    raw = await socketio_open(http, url)
    await raw.send('42["disconnect-me"]')
    assert await raw.frame() == "41"
    await raw.send('42["message","still here?"]')  # the namespace is gone: nothing comes back
    await raw.send("40")
    assert (await raw.frame()).startswith("40{")
    assert await raw.frame() == '42["auth",{}]'


# -- malformed packets close the transport ---------------------------------------------------------
@pytest.mark.parametrize("bad", ["not engine.io", "9", ""], ids=["text", "unknown-type",
                                                                  "empty"])
async def test_a_malformed_engine_io_packet_closes_the_transport(http, url, bad):
    raw = await engine_open(http, url)
    await raw.send(bad)
    await raw.closed()


@pytest.mark.parametrize("bad", ["4abc", "42{}", '42abc["message-with-ack",1]', '42["message"'],
                         ids=["unknown-type", "not-an-array", "bad-ack-id", "cut-json"])
async def test_a_malformed_socket_io_packet_closes_the_transport(http, url, bad):
    raw = await socketio_open(http, url)
    await raw.send(bad)
    await raw.closed()
