"""The postman's logbook: every event the signaling server receives and emits.

A learner cannot see Socket.IO frames, so the server writes each one down: when (monotonic
seconds since the server started), which event, from whom, to whom, in which room, and a short
summary of the payload (never a whole SDP). The log is a bounded ring (old entries fall off),
readable in-process as :attr:`Trace.entries`, as JSON at ``GET /trace``, and live through
:meth:`Trace.subscribe` (the sequence-diagram view listens there).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Callable

SERVER = "server"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    seq: int
    t: float  # seconds since the server started (monotonic clock)
    event: str
    from_: str  # a socket id, or "server"
    to: str  # a socket id, or "server"
    room: str | None
    summary: str
    from_name: str | None = None  # usernames, when known: what a sequence diagram shows
    to_name: str | None = None
    peer: str | None = None  # for relays: the payload's `to` (coming in) or `from` (going out)
    peer_name: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["from"] = d.pop("from_")
        return d


def summarize(event: str, payload: Any, limit: int = 80) -> str:
    """A one-line, bounded description of a payload, for humans."""
    if isinstance(payload, dict):
        for key in ("offer", "answer"):
            desc = payload.get(key)
            if isinstance(desc, dict) and isinstance(desc.get("sdp"), str):
                return f"{key}: SDP, {len(desc['sdp'])} bytes"
        cand = payload.get("candidate")
        if isinstance(cand, dict) and isinstance(cand.get("candidate"), str):
            text = cand["candidate"]
            return "end-of-candidates" if not text else _cut(text, limit)
    try:
        text = json.dumps(payload, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(payload)
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Trace:
    """A bounded, observable log of :class:`TraceEntry`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.entries: deque[TraceEntry] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._t0 = time.monotonic()
        self._subscribers: list[Callable[[TraceEntry], None]] = []

    def record(self, event: str, from_: str, to: str, room: str | None, payload: Any,
               names: Callable[[str], str | None] = lambda sid: None) -> TraceEntry:
        key = "from" if from_ == SERVER else "to"
        peer = payload.get(key) if isinstance(payload, dict) else None
        peer = peer if isinstance(peer, str) else None
        entry = TraceEntry(
            seq=next(self._seq), t=round(time.monotonic() - self._t0, 6), event=event,
            from_=from_, to=to, room=room, summary=summarize(event, payload),
            from_name=SERVER if from_ == SERVER else names(from_),
            to_name=SERVER if to == SERVER else names(to),
            peer=peer, peer_name=names(peer) if peer else None,
        )
        self.entries.append(entry)
        for callback in list(self._subscribers):
            try:
                callback(entry)
            except Exception:  # an observer must never break the postman
                pass
        return entry

    def subscribe(self, callback: Callable[[TraceEntry], None]) -> Callable[[], None]:
        """Call ``callback(entry)`` for every new entry; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def since(self, seq: int = 0) -> list[TraceEntry]:
        return [e for e in self.entries if e.seq > seq]

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(list(self.entries))
