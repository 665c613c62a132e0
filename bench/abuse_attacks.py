"""The attacks of issue 13, each as one function, for ``bench/abuse.py`` (long runs, measured)
and ``tests/test_abuse.py`` (short runs, same limits): clients spoken by hand, on loopback.

Each attack takes a :class:`Target` and a duration and returns an :class:`Outcome`: whether the
server dropped or refused the attacker, and what it saw. None of them asserts anything.

Engine.IO v4 / Socket.IO v5 by hand: a long-polling session is ``GET /socket.io/?EIO=4&
transport=polling`` (the answer ``0{"sid":...}``), then POSTs of packets separated by U+001E
and GETs that return what the server queued; ``40`` connects to the namespace, ``42[...]`` is
an event, ``3`` a pong. TURN (RFC 8656) over TCP is STUN messages back to back, built with
aioice's STUN module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import socket
import string
import time
from typing import Any

import aiohttp
from aioice import stun

SEP = "\x1e"
BIG_SDP = "v=0\r\n" + "a=x-abuse:" + "x" * 60_000 + "\r\n"  # under the 64 KiB SDP limit


@dataclasses.dataclass
class Target:
    url: str  # the signaling server
    token: str = ""  # its trace token
    turn: tuple[str, int] | None = None  # a TURN server (user talklab/talklab)
    attacker_host: str = "127.0.0.2"  # where floods come from (bystanders stay on 127.0.0.1)


@dataclasses.dataclass
class Outcome:
    stopped: bool  # the attacker was dropped or refused
    detail: str


def emit(event: str, data: Any) -> str:
    return "42" + json.dumps([event, data])


# -- clients spoken by hand -----------------------------------------------------------------
class Polling:
    """One Engine.IO long-polling session."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.base = http, url + "/socket.io/?EIO=4&transport=polling"
        self.sid = ""

    async def open(self) -> int:
        async with self.http.get(self.base) as r:
            if r.status == 200:
                self.sid = json.loads((await r.text())[1:])["sid"]
            return r.status

    async def post(self, *packets: str) -> tuple[int, str]:
        async with self.http.post(f"{self.base}&sid={self.sid}",
                                  data=SEP.join(packets).encode()) as r:
            return r.status, await r.text()

    async def get(self) -> list[str]:
        async with self.http.get(f"{self.base}&sid={self.sid}") as r:
            return (await r.text()).split(SEP) if r.status == 200 else []


class Raw:
    """A WebSocket spoken by hand (Engine.IO + Socket.IO text packets)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.sid = ""

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, query: str = "") -> Raw:
        ws = await http.ws_connect(url.replace("http", "ws", 1) +
                                   "/socket.io/?EIO=4&transport=websocket" + query)
        raw = cls(ws)
        if not query:
            assert (await raw.text()).startswith("0")
            await ws.send_str("40")
            raw.sid = json.loads((await raw.text())[2:])["sid"]
        return raw

    async def text(self, timeout: float = 5) -> str:
        while True:
            msg = await self.ws.receive(timeout)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"closed: {msg.type}")
            if msg.data == "2":
                await self.ws.send_str("3")
                continue
            return msg.data

    async def event(self, *names: str, timeout: float = 5) -> tuple[str, Any]:
        while True:
            text = await self.text(timeout)
            if text.startswith("42"):
                name, data = json.loads(text[2:])
                if name in names:
                    return name, data

    async def send(self, event: str, data: Any) -> None:
        await self.ws.send_str(emit(event, data))

    async def join(self, room: str, name: str, voice: bool = True,
                   user_id: str | None = None) -> dict:
        await self.send("joinRoom", {"room": room, "username": name,
                                     **({"userId": user_id} if user_id else {})})
        kind, joined = await self.event("roomJoined", "signalingError")
        if kind != "roomJoined":
            raise PermissionError(joined["message"])
        if voice:
            await self.send("joinVoice", {"room": room})
            await self.event("voiceJoined")
        return joined

    def stop_reading(self) -> None:
        """Read nothing more: the kernel's window fills and the server's writes back up."""
        transport = self.ws._response.connection.transport  # type: ignore[union-attr]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        transport.pause_reading()


def attacker_session(target: Target) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        local_addr=(target.attacker_host, 0), limit=0, force_close=False))


def room_code() -> str:
    return "ABUSE" + "".join(random.choices(string.ascii_uppercase, k=6))


async def flood_offers(helper: Raw, to: str, seconds: float, gone: asyncio.Event) -> int:
    """The helper sends big offers to ``to`` until ``gone`` (it heard ``to`` leave) or time."""
    sent = 0
    end = time.monotonic() + seconds

    async def listen() -> None:
        try:
            while True:
                _, data = await helper.event("userLeftVoice", timeout=seconds + 5)
                if data.get("socketId") == to:
                    gone.set()
                    return
        except (TimeoutError, ConnectionError):
            return

    listener = asyncio.ensure_future(listen())
    while time.monotonic() < end and not gone.is_set():
        await helper.send("webrtc-offer", {"to": to, "offer": {"type": "offer", "sdp": BIG_SDP}})
        sent += 1
        if sent % 8 == 0:
            await asyncio.sleep(0)
    with_wait = min(3.0, max(0.1, end - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(gone.wait(), with_wait)
    listener.cancel()
    return sent


# -- the attacks ------------------------------------------------------------------------------
async def polling_never_reads(target: Target, seconds: float) -> Outcome:
    """A long-polling client that never reads (no GET after the handshake), kept alive with
    blind pongs, while a second socket of the attacker's sends it 60 kB offers."""
    room = room_code()
    async with attacker_session(target) as http:
        victim = Polling(http, target.url)
        await victim.open()
        await victim.post("40")
        await victim.post(emit("joinRoom", {"room": room, "username": "sleepy"}))
        await victim.post(emit("joinVoice", {"room": room}))
        helper = await Raw.connect(http, target.url)
        joined = await helper.join(room, "helper")
        to = next(m["socketId"] for m in joined["members"] if m["username"] == "sleepy")
        gone = asyncio.Event()

        async def pong() -> None:
            while not gone.is_set():
                status, _ = await victim.post("3")
                if status != 200:
                    gone.set()
                await asyncio.sleep(1)

        ponger = asyncio.ensure_future(pong())
        sent = await flood_offers(helper, to, seconds, gone)
        ponger.cancel()
        status, _ = await victim.post("3")
        await helper.ws.close()
    stopped = gone.is_set() or status != 200
    return Outcome(stopped, f"{sent} offers of 60 kB sent; the session then answered {status}")


async def upgraded_stops_reading(target: Target, seconds: float) -> Outcome:
    """A browser-style client: long-polling, upgraded to a WebSocket (probe, upgrade), joins,
    then stops reading while the attacker's second socket sends it 60 kB offers."""
    room = room_code()
    async with attacker_session(target) as http:
        poll = Polling(http, target.url)
        await poll.open()
        await poll.post("40")
        await poll.get()  # the CONNECT answer
        raw = await Raw.connect(http, target.url, f"&sid={poll.sid}")
        await raw.ws.send_str("2probe")
        assert await raw.text() == "3probe"
        await raw.ws.send_str("5")
        await raw.join(room, "browser")
        helper = await Raw.connect(http, target.url)
        joined = await helper.join(room, "helper")
        to = next(m["socketId"] for m in joined["members"] if m["username"] == "browser")
        raw.stop_reading()
        gone = asyncio.Event()
        sent = await flood_offers(helper, to, seconds, gone)
        await helper.ws.close()
        raw.ws._response.connection.transport.abort()  # type: ignore[union-attr]
    return Outcome(gone.is_set(), f"{sent} offers of 60 kB sent before it was dropped"
                   if gone.is_set() else f"{sent} offers sent; still connected")


async def websocket_stops_reading(target: Target, seconds: float) -> Outcome:
    """A WebSocket client (talklab's direct path) that stops reading, flooded the same way."""
    room = room_code()
    async with attacker_session(target) as http:
        raw = await Raw.connect(http, target.url)
        await raw.join(room, "sleepy")
        helper = await Raw.connect(http, target.url)
        await helper.join(room, "helper")
        raw.stop_reading()
        gone = asyncio.Event()
        sent = await flood_offers(helper, raw.sid, seconds, gone)
        await helper.ws.close()
        raw.ws._response.connection.transport.abort()  # type: ignore[union-attr]
    return Outcome(gone.is_set(), f"{sent} offers of 60 kB sent")


async def binary_attachments(target: Target, seconds: float) -> Outcome:
    """A binary event declaring 9,999,999,999 attachments, then 64 kB binary frames."""
    async with attacker_session(target) as http:
        raw = await Raw.connect(http, target.url)
        await raw.join(room_code(), "binary", voice=False)
        await raw.ws.send_str('459999999999-["webrtc-offer",{"_placeholder":true,"num":0}]')
        kind, answer = await raw.event("signalingError")
        blob = os.urandom(64 * 1024)
        frames, end = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                await raw.ws.send_bytes(blob)
                frames += 1
                if frames % 16 == 0:
                    await asyncio.sleep(0)
            await raw.send("joinVoice", {"room": "NOTMINE"})  # still served?
            _, later = await raw.event("signalingError")
        except (ConnectionError, ConnectionResetError) as exc:
            later = {"message": f"closed: {exc}"}
        await raw.ws.close()
    return Outcome(kind == "signalingError",
                   f"refused: {answer['message']!r}; {frames} binary frames of 64 kB dropped; "
                   f"then: {later['message'][:40]!r}")


async def handshake_flood(target: Target, seconds: float, concurrency: int = 32) -> Outcome:
    """Long-polling handshakes as fast as possible, none ever connecting to the namespace."""
    counts: dict[int, int] = {}
    end = time.monotonic() + seconds
    async with attacker_session(target) as http:
        async def one() -> None:
            while time.monotonic() < end:
                try:
                    status = await Polling(http, target.url).open()
                except aiohttp.ClientError:
                    status = -1
                counts[status] = counts.get(status, 0) + 1

        await asyncio.gather(*(one() for _ in range(concurrency)))
    refused = counts.get(429, 0)
    return Outcome(refused > 0, f"{counts.get(200, 0)} sessions opened, {refused} refused (429)"
                   + (f", {counts[-1]} failed" if -1 in counts else ""))


async def trace_pollers(target: Target, seconds: float, with_token: bool = False) -> Outcome:
    """Four clients reading /trace as fast as they can (anonymous: no token)."""
    counts: dict[int, int] = {}
    end = time.monotonic() + seconds
    query = f"?token={target.token}&limit=1000" if with_token else ""
    async with attacker_session(target) as http:
        async def poll() -> None:
            while time.monotonic() < end:
                async with http.get(target.url + "/trace" + query) as r:
                    await r.read()
                    counts[r.status] = counts.get(r.status, 0) + 1

        await asyncio.gather(*(poll() for _ in range(4)))
    served = counts.get(200, 0)
    return Outcome(served == 0 if not with_token else counts.get(429, 0) > 0,
                   ", ".join(f"{n} x {status}" for status, n in sorted(counts.items())))


async def room_code_guessing(target: Target, seconds: float) -> Outcome:
    """One socket trying room codes as fast as the server answers."""
    tried = joined = refused = 0
    end = time.monotonic() + seconds
    async with attacker_session(target) as http:
        raw = await Raw.connect(http, target.url)
        while time.monotonic() < end:
            await raw.send("joinRoom", {"room": room_code(), "username": "guesser"})
            kind, data = await raw.event("roomJoined", "signalingError")
            tried += 1
            if kind == "roomJoined":
                joined += 1
            elif "too many" in data["message"]:
                refused += 1
        await raw.ws.close()
    return Outcome(refused > 0, f"{tried} codes tried in {seconds:g} s, {joined} answered, "
                                f"{refused} refused as too many")


async def impostor(target: Target, seconds: float) -> Outcome:
    """Mallory joins Bob's room with Bob's username and userId, to receive offers meant for
    Bob."""
    room = room_code()
    async with aiohttp.ClientSession() as http:
        alice, bob = await Raw.connect(http, target.url), await Raw.connect(http, target.url)
        await alice.join(room, "Alice", user_id="user-alice")
        await bob.join(room, "Bob", user_id="user-bob")
        mallory = await Raw.connect(http, target.url)
        try:
            await mallory.join(room, "Bob", user_id="user-bob")
            detail = "Mallory joined as Bob"
            stopped = False
        except PermissionError as refusal:
            detail, stopped = f"refused: {refusal}", True
        for c in (alice, bob, mallory):
            await c.ws.close()
    return Outcome(stopped, detail)


# -- TURN over TCP ---------------------------------------------------------------------------
class TurnTcp:
    """A TURN client over TCP (RFC 8656), long-term credentials, by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 user: str = "talklab", password: str = "talklab") -> None:
        self.reader, self.writer, self.user, self.password = reader, writer, user, password
        self.nonce = self.realm = None

    @classmethod
    async def connect(cls, address: tuple[str, int], local: str) -> TurnTcp:
        reader, writer = await asyncio.open_connection(*address, local_addr=(local, 0))
        return cls(reader, writer)

    async def read(self) -> stun.Message:
        head = await self.reader.readexactly(20)
        length = int.from_bytes(head[2:4], "big")
        return stun.parse_message(head + await self.reader.readexactly(length))

    async def request(self, method: stun.Method, **attributes: Any) -> stun.Message:
        from talklab.stun import long_term_key
        for _ in range(3):
            m = stun.Message(method, stun.Class.REQUEST)
            m.attributes.update(attributes)
            if self.nonce is not None:
                m.attributes.update(USERNAME=self.user, REALM=self.realm, NONCE=self.nonce)
                m.add_message_integrity(long_term_key(self.user, self.realm, self.password))
            self.writer.write(bytes(m))
            reply = await self.read()
            if reply.message_class is stun.Class.ERROR and "NONCE" in reply.attributes:
                self.nonce, self.realm = reply.attributes["NONCE"], reply.attributes["REALM"]
                continue
            return reply
        raise PermissionError("TURN refused the credentials")

    def stop_reading(self) -> None:
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    async def dropped(self, timeout: float = 3) -> bool:
        """Read again: True if the server has hung up (EOF or reset) within ``timeout``."""
        self.writer.transport.resume_reading()  # type: ignore[attr-defined]
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
            return True
        except (ConnectionError, OSError):
            return True
        except TimeoutError:
            return False


async def turn_tcp_peer_flood(target: Target, seconds: float) -> Outcome:
    """A TURN-over-TCP allocation whose peer floods the relay while the client never reads."""
    assert target.turn is not None
    client = await TurnTcp.connect(target.turn, target.attacker_host)
    reply = await client.request(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": 17 << 24})
    relay = reply.attributes["XOR-RELAYED-ADDRESS"]
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((target.attacker_host, 0))
    peer.setblocking(False)
    await client.request(stun.Method.CREATE_PERMISSION,
                         **{"XOR-PEER-ADDRESS": peer.getsockname()})
    client.stop_reading()
    sent, end = 0, time.monotonic() + seconds
    blob = os.urandom(1200)
    while time.monotonic() < end:
        for _ in range(64):
            try:
                peer.sendto(blob, relay)
                sent += 1
            except BlockingIOError:
                break
        await asyncio.sleep(0.001)
    peer.close()
    dropped = await client.dropped()
    client.writer.close()
    return Outcome(dropped, f"{sent} datagrams of 1.2 kB from the peer; the client "
                            + ("was dropped" if dropped else "is still connected"))


async def turn_tcp_pipelined_bindings(target: Target, seconds: float) -> Outcome:
    """Binding requests written back to back over TCP, never reading an answer."""
    assert target.turn is not None
    client = await TurnTcp.connect(target.turn, target.attacker_host)
    client.stop_reading()
    sent, end, broken = 0, time.monotonic() + seconds, ""
    while time.monotonic() < end and not broken:
        for _ in range(256):
            client.writer.write(bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST)))
            sent += 1
        try:
            await asyncio.wait_for(client.writer.drain(), 1)
        except TimeoutError:
            pass
        except (ConnectionError, OSError) as exc:
            broken = type(exc).__name__
    dropped = bool(broken) or await client.dropped()
    client.writer.close()
    return Outcome(dropped, f"{sent} Binding requests written; "
                            + ("dropped" if dropped else "still connected"))


ATTACKS = {
    "long-polling client that never reads, blind pongs": polling_never_reads,
    "polling-then-upgraded client that stops reading": upgraded_stops_reading,
    "direct WebSocket client that stops reading": websocket_stops_reading,
    "binary event declaring 9,999,999,999 attachments": binary_attachments,
    "handshake flood": handshake_flood,
    "TURN over TCP, peer floods, client never reads": turn_tcp_peer_flood,
    "TURN over TCP, pipelined Binding requests never read": turn_tcp_pipelined_bindings,
    "/trace pollers, no token": trace_pollers,
    "/trace pollers, with the token": lambda t, s: trace_pollers(t, s, with_token=True),
    "room-code guessing": room_code_guessing,
    "impostor (Bob's username and userId)": impostor,
}
