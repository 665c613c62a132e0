"""A faster Engine.IO WebSocket transport for the signaling server.

Socket.IO runs on Engine.IO, which moves packets over long-polling or a WebSocket. For every
WebSocket, python-engineio runs two loops: a reader that wraps each ``receive`` in a new task
and an ``asyncio.wait_for``, and a writer task that every sent packet must wake through a
queue (and another ``wait_for``). For signaling, where each message is relayed at once to one
other person, that machinery was about a fifth of the server's time under a join storm
(measured with py-spy in ``bench/signaling_storm.py``), and every wake-up adds latency.

:class:`DirectSocket` keeps Engine.IO's protocol and python-engineio's bookkeeping (handshake,
pings, ``close``, the ``disconnect`` event) and changes only how bytes move on a socket that
opened as a WebSocket:

* the reader awaits aiohttp's ``receive()`` directly: no task or timer per message;
* ``send`` frames each packet itself (RFC 6455 section 5.2: two to ten bytes of header, then
  the payload, unmasked as a server sends it; opcode 0x1 for a text packet, 0x2 for a binary
  one) and holds the frame until the end of the event loop's current turn, then writes
  everything held for that socket at once. An answer and its three ICE candidates usually
  arrive together and now leave together: one system call, not four.
* **one order on the wire.** Text and binary frames go into the same held buffer, so every
  packet leaves in exactly the order it was sent. (A Socket.IO packet with binary attachments
  is a text header followed by one binary Engine.IO packet per attachment; the receiver
  rebuilds it only if the header comes first.)
* a client that stops reading does not make the server hold its messages forever: past
  ``Limits.max_unread_bytes`` unsent bytes (its memory budget, :mod:`.limits`) its connection
  is dropped, with one log line.

A client that is silent for too long is still caught: python-engineio's service task checks
every socket's ping timeout and calls :meth:`DirectSocket.close`, which closes the WebSocket
and ends the reader. Clients that start on long-polling and upgrade (a browser's default) keep
python-engineio's own WebSocket loop, with the memory budget of every talklab socket
(:class:`.transport.GuardedSocket`, which this class extends).

This module reaches into python-engineio's internals (the socket class, its private
``_websocket_handler``, its queue) and into its aiohttp driver (``ws._sock``). Which ones,
and the check that they are all there before any of this is used, are in :mod:`.fastpath`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import struct
from typing import Any

from aiohttp import web
from engineio import exceptions, packet

from .transport import GuardedSocket, limits_of, quiet_of

log = logging.getLogger("talklab.server.engine")

OP_TEXT = 0x1  # RFC 6455 section 5.2, "%x1 denotes a text frame"
OP_BINARY = 0x2  # "%x2 denotes a binary frame"

# True while a request of one of talklab's own sockets is being answered; the WebSocket
# response made meanwhile declines permessage-deflate (see fastpath.decline_permessage_deflate).
ours: contextvars.ContextVar[bool] = contextvars.ContextVar("talklab_engine_ours",
                                                            default=False)


def frame(opcode: int, data: bytes) -> bytes:
    """A final, unmasked WebSocket frame (RFC 6455 section 5.2), as a server sends it.

    The first byte is FIN (0x80) plus the opcode; the second is the payload length when it
    is under 126, or 126 followed by a 16-bit length, or 127 followed by a 64-bit length. A
    server never masks (section 5.1), so the payload follows as is.
    """
    n = len(data)
    first = 0x80 | opcode
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + data


def text_frame(data: bytes) -> bytes:
    """A text frame (opcode 0x1) holding UTF-8 ``data``."""
    return frame(OP_TEXT, data)


def binary_frame(data: bytes) -> bytes:
    """A binary frame (opcode 0x2)."""
    return frame(OP_BINARY, data)


def encoded_frame(pkt: packet.Packet) -> bytes:
    """An Engine.IO packet as the one WebSocket frame that carries it: a text packet is its
    type digit and data in a text frame, a binary one its bytes alone in a binary frame
    (Engine.IO protocol v4, "WebSocket" transport)."""
    data = pkt.encode()
    if isinstance(data, str):
        return frame(OP_TEXT, data.encode())
    return frame(OP_BINARY, bytes(data))


_holding: set[DirectSocket] = set()  # sockets with frames held for the end of this turn


def flush_held() -> None:
    """Write every socket's held frames now, instead of at the end of this turn of the loop:
    for a caller that has just delivered a whole batch of packets (messages forwarded by
    another server), so that they do not wait one more turn."""
    for sock in list(_holding):
        sock._flush()


class DirectSocket(GuardedSocket):
    """An Engine.IO socket whose WebSocket frames are read and written inline."""

    _ws: web.WebSocketResponse | None = None  # set while the direct WebSocket is open
    _ws_done = False  # the direct WebSocket has closed: later packets go nowhere
    _transport: asyncio.Transport | None = None
    _held: list[bytes] | None = None  # frames waiting for the end of this turn of the loop
    _closing_ws: asyncio.Future | None = None
    _budget = 4 * 1024 * 1024  # (Limits.max_unread_bytes, set when the WebSocket opens)
    connected: bool  # (python-engineio's, set in its __init__)
    upgraded: bool

    # -- sending --------------------------------------------------------------------------------
    async def send(self, pkt: packet.Packet) -> None:
        if self._ws is None:
            if not self._ws_done:
                await super().send(pkt)  # long-polling, or before the WebSocket is up
            return
        if not await self.check_ping_timeout():
            return
        data = pkt.encode()
        if type(data) is str:  # (the common case, inline: this is every relay's path)
            self._hold(frame(OP_TEXT, data.encode()))
        else:
            self._hold(frame(OP_BINARY, bytes(data)))

    def send_text(self, text: str) -> bool:
        """Hold an encoded text packet for this socket's WebSocket, without awaiting anything:
        False if the socket is not on the direct path (long-polling), or closed."""
        if self._ws is None:
            return False
        self._hold(frame(OP_TEXT, text.encode()))
        return True

    def _hold(self, data: bytes) -> None:
        if self._held is None:
            self._held = []
            _holding.add(self)
            asyncio.get_running_loop().call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        frames, self._held = self._held, None
        _holding.discard(self)
        transport, ws = self._transport, self._ws
        if not frames or transport is None or ws is None or ws.closed or transport.is_closing():
            return  # the peer hung up: the reader will see it, and clean up
        transport.write(b"".join(frames))
        if transport.get_write_buffer_size() > self._budget:
            quiet_of(self.server)(
                "unread", "%s: client left %d bytes unread (limit %d); dropping it", self.sid,
                transport.get_write_buffer_size(), self._budget, level=logging.WARNING)
            transport.abort()

    # -- closing --------------------------------------------------------------------------------
    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close as python-engineio does (``disconnect`` event, CLOSE packet), then the
        WebSocket too, which ends the reader. The WebSocket's closing handshake runs in its own
        task: a client that never answers must not hold up whoever closed it."""
        await super().close(wait=wait, abort=abort, reason=reason)
        if self._held:
            self._flush()  # the CLOSE packet, and anything before it, before the WebSocket goes
        ws, self._ws = self._ws, None
        if ws is not None:
            self._ws_done = True
            self._closing_ws = asyncio.ensure_future(ws.close())
        elif not self._ws_done:
            # Long-polling (or python-engineio's upgraded WebSocket): end the pending GET (or
            # the writer task) now. python-engineio would hold it for up to 30 s.
            self.queue.put_nowait(None)

    # -- HTTP requests (long-polling, and the WebSocket's upgrade request) ----------------------
    async def handle_get_request(self, environ: dict) -> Any:
        token = ours.set(True)  # a WebSocket response made from here declines compression
        try:
            return await super().handle_get_request(environ)
        finally:
            ours.reset(token)

    # -- the WebSocket, read inline -------------------------------------------------------------
    async def _websocket_handler(self, ws: Any) -> None:
        sock = getattr(ws, "_sock", None)  # engineio's aiohttp driver keeps the response here
        request = getattr(ws, "environ", {}).get("aiohttp.request")
        transport = getattr(request, "transport", None)
        if self.connected or not isinstance(sock, web.WebSocketResponse) or transport is None:
            # An upgrade from long-polling: python-engineio's own loop handles the probe.
            return await super()._websocket_handler(ws)
        self.connected = self.upgraded = True
        self._ws, self._transport = sock, transport
        self._budget = limits_of(self.server).max_unread_bytes
        # The OPEN packet (and anything else queued so far) goes first, in the same held
        # buffer as everything after it.
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is not None:
                self._hold(encoded_frame(pkt))
        limit = self.server.max_http_buffer_size
        try:
            while True:
                msg = await sock.receive()
                data = msg.data
                if not isinstance(data, (str, bytes)) or len(data) > limit:
                    break  # closed, an error, or a packet over maxPayload
                try:
                    pkt = packet.Packet(encoded_packet=data)
                except Exception:  # not Engine.IO: close the transport, as engine.io does
                    quiet_of(self.server)("unparseable", "%s: unparseable packet, closing",
                                          self.sid)
                    break
                try:
                    await self.receive(pkt)
                except exceptions.UnknownPacketError:
                    pass
                except exceptions.SocketIsClosedError:
                    break
                except Exception as exc:  # (the application's guard answers bad input)
                    quiet_of(self.server)("receive", "%s: receive error: %r", self.sid, exc,
                                          level=logging.ERROR)
        finally:
            if self._held:
                self._flush()
            self._ws, self._ws_done = None, True
            await sock.close()
            await super().close(wait=False, abort=True,
                                reason=self.server.reason.TRANSPORT_CLOSE)
