"""The postman's logbook: every event the signaling server receives and emits.

A learner cannot see Socket.IO frames, so the server writes each one down: when (monotonic
seconds since the server started), which event, from whom, to whom, in which room, and a short
summary of the payload (never a whole SDP). The log is a bounded ring (old entries fall off),
readable in-process as :attr:`Trace.entries`, as JSON at ``GET /trace``, and live through
:meth:`Trace.subscribe` (the sequence-diagram view listens there).

Writing is on every relay's path, so it is cheap: :meth:`Trace.record` appends a plain tuple
(with the summary, never the payload, so the ring's memory stays small), and the readable
:class:`TraceEntry` is built only when someone reads it or subscribes. A class starting at nine
o'clock writes far more than anyone reads.

Tested in tests/test_server.py (the trace over HTTP, and bounded) and tests/test_security.py (paged,
per room; a page of a full trace is cheap).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from .member import Member

log = logging.getLogger("talklab.server.trace")
SERVER = "server"


@dataclass(slots=True)
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
    peer: str | None = None  # relays: the payload's `to` (in) or `from` (out); notices: whom
    # they name (`socketId`)
    peer_name: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["from"] = d.pop("from_")
        return d


FIELDS = ("seq", "t", "event", "from", "to", "room", "summary", "from_name", "to_name", "peer",
          "peer_name")
MAX_PAGE = 500  # entries in one page of GET /trace at most (about 2.5 ms of work)


def summarize(event: str, payload: Any, limit: int = 80) -> str:
    """A one-line, bounded description of a payload, for humans. Never raises: a payload too
    deep for orjson (more than 254 levels) is described, not shown (``repr`` of one 990
    levels deep raised RecursionError before the handler could refuse it)."""
    try:
        return _summary(payload, limit)
    except (TypeError, ValueError, RecursionError):
        return f"{_kind(payload)} (nested too deeply to show)"


KINDS: dict[type, str] = {dict: "object", list: "array", str: "string"}


def _kind(value: Any) -> str:
    return KINDS.get(type(value), type(value).__name__)


def _summary(payload: Any, limit: int) -> str:
    if isinstance(payload, dict):
        for key in ("offer", "answer"):
            desc = payload.get(key)
            if isinstance(desc, dict) and isinstance(desc.get("sdp"), str):
                return f"{key}: SDP, {len(desc['sdp'])} bytes"
        cand = payload.get("candidate")
        if isinstance(cand, dict) and isinstance(cand.get("candidate"), str):
            text = cand["candidate"]
            return "end-of-candidates" if not text else _cut(text, limit)
    text = orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Trace:
    """A bounded, observable log of :class:`TraceEntry`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        # (seq, t, event, from_, to, room, summary, from_name, to_name, peer, peer_name)
        self._raw: deque[tuple] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._t0 = time.monotonic()
        self._subscribers: list[Callable[[TraceEntry], None]] = []

    def record(self, event: str, from_: str, to: str, room: str | None, payload: Any,
               names: Callable[[str], str | None] = lambda sid: None) -> None:
        """Write one event down (names are looked up now: people leave)."""
        # whom it is about: the other end of a relay, or the person a notice names
        peer = (payload.get("from") or payload.get("socketId") if from_ == SERVER
                else payload.get("to")) if type(payload) is dict else None
        if peer is not None and type(peer) is not str:
            peer = None
        raw = (next(self._seq), time.monotonic() - self._t0, event, from_, to, room,
               summarize(event, payload),
               SERVER if from_ == SERVER else names(from_),
               SERVER if to == SERVER else names(to),
               peer, names(peer) if peer else None)
        self._raw.append(raw)
        if self._subscribers:
            entry = _entry(raw)
            for callback in list(self._subscribers):
                try:
                    callback(entry)
                except Exception:  # an observer must never break the postman
                    log.exception("a trace subscriber failed")

    @property
    def entries(self) -> list[TraceEntry]:
        """Every entry still in the ring, oldest first."""
        return [_entry(raw) for raw in list(self._raw)]

    @property
    def started_at(self) -> float:
        """When the trace began, on ``time.monotonic()``'s clock: ``entry.t`` counts from here
        (so other logs of the same process can be set on the same timeline)."""
        return self._t0

    def subscribe(self, callback: Callable[[TraceEntry], None]) -> Callable[[], None]:
        """Call ``callback(entry)`` for every new entry; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def since(self, seq: int = 0) -> list[TraceEntry]:
        return [_entry(raw) for raw in list(self._raw) if raw[0] > seq]

    def page(self, since: int = 0, limit: int = 200, room: str | None = None
             ) -> tuple[list[dict], int, bool]:
        """One page of ``GET /trace``: up to ``limit`` entries after ``since`` (of ``room`` if
        given) as JSON-ready dicts, the ``since`` to ask for next, and whether more may follow.

        Bounded work whatever the ring holds: sequence numbers in the ring are consecutive, so
        the page starts by position (no scan of what came before), and at most ``MAX_PAGE``
        times twenty entries are looked at per page. (A whole ring of 10,000 entries took 204 ms
        and 2.7 MiB to serve, while every relay waited; a page of 500 takes about 2.5 ms.)
        """
        limit = max(1, min(limit, MAX_PAGE))
        raw = self._raw
        if not raw:
            return [], since, False
        first = raw[0][0]
        start = max(0, since - first + 1)
        out: list[dict] = []
        last = since
        budget = MAX_PAGE * 20
        more = False
        for row in itertools.islice(raw, start, None):
            if len(out) >= limit or budget <= 0:
                more = True
                break
            budget -= 1
            last = row[0]
            if room is None or row[5] == room:
                out.append(dict(zip(FIELDS, (*row[:1], round(row[1], 6), *row[2:]),
                                    strict=True)))
        return out, last, more

    def by_room(self) -> dict[str, int]:
        """How many entries of each room the ring holds (the class dashboard's messages)."""
        counts: dict[str, int] = {}
        for row in list(self._raw):
            if row[5] is not None:
                counts[row[5]] = counts.get(row[5], 0) + 1
        return counts

    def clear(self) -> None:
        self._raw.clear()

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self):
        return iter(self.entries)


class Names:
    """Who each socket is, as far as the trace knows: its username and room, learnt from the
    store's answers (a relay's two members, a room's members when it is told something).

    The handlers and :mod:`.delivery` share one: the trace names people as they were when each
    entry was written (people leave), and an incoming event is filed under its sender's room.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}  # sid -> (username, room)

    def learn(self, *members: Member | None) -> None:
        known = self._known
        for m in members:
            if m is not None:
                known[m.sid] = (m.username, m.room)

    def name(self, sid: str) -> str | None:
        known = self._known.get(sid)
        return known[0] if known else None

    def room_of(self, sid: str) -> str | None:
        known = self._known.get(sid)
        return known[1] if known else None

    def forget(self, sid: str) -> None:
        self._known.pop(sid, None)


def _entry(raw: tuple) -> TraceEntry:
    seq, t, event, from_, to, room, summary, from_name, to_name, peer, peer_name = raw
    return TraceEntry(seq=seq, t=round(t, 6), event=event, from_=from_, to=to, room=room,
                      summary=summary, from_name=from_name, to_name=to_name, peer=peer,
                      peer_name=peer_name)
