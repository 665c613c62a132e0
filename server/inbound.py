"""Every message a client sends, looked at once before python-socketio dispatches it.

Socket.IO (protocol v5) packs an event as ``2`` + ``[namespace,]`` + ``[ack id]`` + a JSON array
``[name, ...args]``; a *binary* event (``5``) declares how many binary attachments follow and
python-socketio then keeps every following frame until that many have come. talklab's protocol
is the seed's events with JSON payloads, so before python-socketio sees a message:

* **binary events are refused** with ``signalingError`` (talklab never sends or expects binary),
  and binary frames are dropped: python-socketio never starts collecting attachments, so a
  header declaring 9,999,999,999 of them costs nothing (it kept 1 GB before); a client that
  sends more than :data:`MAX_BINARY_FRAMES` is hung up on (reading them all took the loop);
* **reserved event names are refused**: ``connect`` and ``disconnect`` are Socket.IO's own
  (a client that sent ``disconnect`` ran the server's disconnect handler while its socket
  stayed open), and ``*`` is python-socketio's catch-all;
* **what python-socketio cannot decode** (JSON nested deeper than orjson's 1,024 levels, cut
  JSON, a bad packet type) never becomes a traceback: an event gets ``signalingError`` and the
  connection stays usable; anything else closes the transport, as engine.io does with a
  malformed packet. One log line per kind of refusal per interval (:class:`.limits.QuietLog`).

The event name is read without decoding the payload (a relay's JSON is decoded once, by
python-socketio), unless the name holds an escape, when the whole packet is decoded first.

:class:`Inbound` is made by the application (:mod:`.app`) with python-socketio's own handler
and three callbacks: ``sid_of`` (the Socket.IO id of an Engine.IO session, None before it
connects), ``refuse`` (answer ``signalingError``) and ``close`` (drop a transport).

Tested in tests/test_security.py (reserved event names refused; any nesting depth answered; bad
input logged in a few lines, never a traceback) and tests/test_abuse.py (a binary event refused, its
attachments never kept).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .limits import QuietLog

log = logging.getLogger("talklab.server.inbound")

RESERVED = frozenset({"connect", "disconnect", "*", "connect_error", "disconnecting",
                      "newListener", "removeListener"})
BINARY = "binary events are not part of talklab's protocol (its payloads are JSON)"
MAX_BINARY_FRAMES = 16  # binary frames dropped for one client before it is hung up on


def event_name(text: str, start: int = 1) -> tuple[str | None, int]:
    """The event name of a Socket.IO EVENT packet's text (after its type digit), and where
    its JSON array begins; the name is None if it cannot be read without decoding."""
    i = start
    if text.startswith("/", i):  # a namespace: "/name,"
        comma = text.find(",", i)
        if comma < 0:
            return None, len(text)
        i = comma + 1
    n = len(text)
    while i < n and text[i].isdigit():  # an ack id
        i += 1
    if text.startswith('["', i):
        end = text.find('"', i + 2)
        if end > 0:
            name = text[i + 2:end]
            if "\\" not in name:
                return name, i
    return None, i


def decoded_name(text: str, at: int) -> str | None:
    """The event name, decoding the packet's JSON (for names with escapes); None if the JSON
    is not an array starting with a string."""
    data = orjson.loads(text[at:])
    if isinstance(data, list) and data and isinstance(data[0], str):
        return data[0]
    return None


class Inbound:
    """The guard in front of python-socketio's message handler, for one application."""

    def __init__(self, dispatch: Callable[[str, Any], Awaitable[None]], *,
                 sid_of: Callable[[str], str | None],
                 refuse: Callable[[str, str, str], Awaitable[None]],
                 close: Callable[[str], Awaitable[None]],
                 refusal_log_interval: float) -> None:
        self.dispatch = dispatch  # python-socketio's own Engine.IO message handler
        self.sid_of = sid_of  # eio sid -> Socket.IO sid (None: not connected to the namespace)
        self.refuse = refuse  # (sid, event, message): answer signalingError
        self.close = close  # (eio sid): drop the transport
        self.quiet = QuietLog(log, refusal_log_interval)
        self.dropped_binary = 0
        self._binary: dict[str, int] = {}  # eio sid -> binary frames dropped

    async def __call__(self, eio_sid: str, data: Any) -> None:
        if type(data) is not str:  # a binary frame: nobody asked for it
            self.dropped_binary += 1
            count = self._binary[eio_sid] = self._binary.get(eio_sid, 0) + 1
            if count > MAX_BINARY_FRAMES:
                self._binary.pop(eio_sid, None)
                await self._close(eio_sid, f"{count} binary frames ({BINARY})")
            else:
                self.quiet("binary-frame", "%s: dropped a binary frame (%s)", eio_sid, BINARY)
            if len(self._binary) > 10_000:
                self._binary.clear()
            return
        kind = data[:1]
        name: str | None = None
        if kind == "2":
            name, at = event_name(data)
            try:
                if name is None:
                    name = decoded_name(data, at)
            except ValueError as exc:
                await self._undecodable(eio_sid, "", exc)
                return
            if name in RESERVED:
                await self._refuse(eio_sid, name, f"{name!r} is reserved by Socket.IO; a client "
                                                  "may not send it")
                return
        elif kind in ("5", "6"):  # BINARY_EVENT, BINARY_ACK
            dash = data.find("-")
            name, _ = event_name(data, dash + 1) if dash > 0 else (None, 0)
            await self._refuse(eio_sid, name or "", BINARY)
            return
        try:
            await self.dispatch(eio_sid, data)
        except ValueError as exc:  # (orjson's JSONDecodeError included)
            if kind == "2":
                await self._undecodable(eio_sid, name or "", exc)
            else:
                await self._close(eio_sid, f"not a Socket.IO packet ({exc})")
        except Exception as exc:  # a packet python-socketio chokes on: never a traceback
            if kind == "2":
                await self._refuse(eio_sid, name or "", "not a Socket.IO event (its arguments "
                                                        "must be a JSON array)")
            else:
                await self._close(eio_sid, f"not a Socket.IO packet ({exc!r})")

    async def _undecodable(self, eio_sid: str, name: str, exc: Exception) -> None:
        why = "nested too deeply" if "depth" in str(exc) or "recursion" in str(exc) \
            else "not JSON"
        await self._refuse(eio_sid, name, f"the payload could not be read ({why}: {exc})")

    async def _refuse(self, eio_sid: str, event: str, message: str) -> None:
        sid = self.sid_of(eio_sid)
        self.quiet("refused:" + message[:24], "%s: refused %r: %s", eio_sid, event[:64], message)
        if sid is None:  # not connected to the namespace: nobody to answer
            await self._close(eio_sid, message)
            return
        await self.refuse(sid, event[:64], message)

    async def _close(self, eio_sid: str, why: str) -> None:
        self.quiet("closed:" + why[:24], "%s: %s; closing the transport", eio_sid, why)
        await self.close(eio_sid)
