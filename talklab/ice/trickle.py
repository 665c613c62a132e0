"""Trickle ICE over the seed's ``webrtc-ice-candidate`` messages.

A browser fires ``onicecandidate`` for each route it finds, and the seed sends each one on its
own. aiortc has no such event: it gathers everything inside ``setLocalDescription`` and writes
the candidates into the SDP. To behave like the seed's browser, talklab takes them back out
(:func:`split_candidates`), sends the description without them, then sends each candidate as a
browser ``RTCIceCandidate`` in JSON form (:func:`candidate_to_json`), and finally an empty
candidate: the standard end-of-candidates marker (RFC 8838, section 4; W3C webrtc, 4.8.1).

On the receiving side, a candidate can arrive before the description it belongs to has been
applied (a browser may fire ``onicecandidate`` before its ``emit("webrtc-answer")``). aiortc
silently drops candidates added too early, so :class:`RemoteCandidates` holds them until the
remote description is set.

aiortc also gathers every candidate inside ``setLocalDescription``, waiting there for the STUN
server's answer, so a description could not leave before STUN had answered.
:class:`LaterReflexive` moves that wait to after the description has gone, as a browser does:
that is what makes trickling faster than gathering first when a STUN server is slow to answer
(notebook 03 measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from aioice import Candidate, Connection
from aioice.ice import server_reflexive_candidate
from aiortc import RTCIceCandidate, RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from talklab._aiortc import access
from talklab.address import LOOPBACK, Scope


@dataclass(frozen=True)
class SdpCandidate:
    """One ``a=candidate`` line and the media section it belongs to."""

    text: str  # "candidate:..." (the attribute value, as a browser reports it)
    sdp_mid: str | None
    sdp_mline_index: int


def split_candidates(sdp: str) -> tuple[str, list[SdpCandidate]]:
    """The SDP without its candidates and end-of-candidates lines, and the candidates."""
    kept: list[str] = []
    found: list[SdpCandidate] = []
    index, mid = -1, None
    pending: list[str] = []  # candidates seen before this section's a=mid line

    def flush() -> None:
        found.extend(SdpCandidate(t, mid, index) for t in pending)
        pending.clear()

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            pending.append(line[2:])
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    flush()
    return "\r\n".join(kept) + "\r\n", found


def candidate_to_json(c: SdpCandidate) -> dict:
    """A candidate as the browser's ``RTCIceCandidate.toJSON()`` writes it."""
    return {"candidate": c.text, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index}


def end_of_candidates(sdp_mid: str | None = "0", sdp_mline_index: int = 0) -> dict:
    return {"candidate": "", "sdpMid": sdp_mid, "sdpMLineIndex": sdp_mline_index}


def candidate_from_json(data: dict) -> RTCIceCandidate | None:
    """A browser-JSON candidate as aiortc's ``RTCIceCandidate``; ``None`` for end-of-candidates."""
    text = data.get("candidate") or ""
    if not text:
        return None
    candidate = candidate_from_sdp(text.removeprefix("candidate:"))
    candidate.sdpMid = data.get("sdpMid")
    candidate.sdpMLineIndex = data.get("sdpMLineIndex")
    return candidate


def loopback_only(sdp: str, scope: Scope = LOOPBACK) -> str:
    """``sdp`` without candidates outside 127.0.0.0/8 and ::1 (outside ``scope``).

    talklab never sends a packet beyond loopback unless told to (a class, :class:`Scope`). A
    browser on the same machine also offers its network interfaces' addresses; checking them
    would mean sending to the outside.
    """
    def keep(line: str) -> bool:
        if not line.startswith("a=candidate:"):
            return True
        fields = line.split()
        return len(fields) > 4 and scope.allows(fields[4])
    return "\r\n".join(line for line in sdp.splitlines() if keep(line)) + "\r\n"


class RemoteCandidates:
    """Holds received candidates until the remote description is set, then applies in order."""

    def __init__(self, apply: Callable[[RTCIceCandidate | None], Awaitable[None]],
                 scope: Scope = LOOPBACK) -> None:
        self._apply = apply
        self.scope = scope
        self._held: list[RTCIceCandidate | None] = []
        self.ready = False
        self.received = 0
        self.ignored = 0
        self.ended = False

    async def add(self, data: dict) -> None:
        """Take one received candidate (browser JSON). Returns nothing; candidates outside
        loopback (the scope) are counted in :attr:`ignored` and never used (see
        :func:`loopback_only`)."""
        candidate = candidate_from_json(data)
        if self.ended:
            return  # nothing may follow end-of-candidates
        if candidate is not None and not self.scope.allows(candidate.ip):
            self.ignored += 1
            return
        self.received += candidate is not None
        self.ended = candidate is None
        if self.ready:
            await self._apply(candidate)
        else:
            self._held.append(candidate)

    @property
    def held(self) -> int:
        return len(self._held)

    async def remote_description_set(self) -> None:
        self.ready = True
        held, self._held = self._held, []
        for candidate in held:
            await self._apply(candidate)



# -- trickling our own candidates: the description leaves before STUN has answered ------------
class LaterReflexive:
    """Server-reflexive candidates gathered *after* the description has gone, as a browser does.

    A browser's ``setLocalDescription`` returns at once and fires ``onicecandidate`` as each
    route is found: host candidates at once, a server-reflexive one when the STUN server
    answers. aiortc instead waits inside ``setLocalDescription`` until every STUN server has
    answered (or 5 s have passed). For a trickling person talklab therefore takes the STUN
    server away from each ICE agent for the duration of that call (:meth:`defer`), so that it
    gathers host (and TURN) candidates only, and asks the STUN server itself afterwards
    (:meth:`gather`), from the same sockets, as aioice would have: the answer becomes a srflx
    candidate of the agent and is sent on its own.

    Nothing else changes: a srflx candidate is never paired locally anyway (checks leave from
    its base, the host socket: RFC 8445, 6.1.2.4), so it only has to reach the other side.
    """

    def __init__(self, connections: list[Connection]) -> None:
        self.connections = connections
        self._servers: list[tuple[str, int] | None] = [None] * len(connections)

    @classmethod
    def of(cls, pc: RTCPeerConnection) -> LaterReflexive:
        """The ICE agents of ``pc`` (one per transport; talklab's links bundle into one)."""
        return cls(access.ice_connections(pc))

    @property
    def pending(self) -> bool:
        """Whether a STUN server was held back, so that candidates will follow."""
        return any(server is not None for server in self._servers)

    @contextlib.contextmanager
    def defer(self) -> Iterator[LaterReflexive]:
        """``with later.defer(): await pc.setLocalDescription(...)``: no STUN inside it."""
        self._servers = [c.stun_server for c in self.connections]
        for connection in self.connections:
            connection.stun_server = None
        try:
            yield self
        finally:
            for connection, server in zip(self.connections, self._servers, strict=True):
                connection.stun_server = server

    async def gather(self, timeout: float = 5.0) -> list[Candidate]:
        """Ask the STUN server from each host socket: the srflx candidates found (each also
        added to its agent). A server that has not answered within ``timeout`` gives none, as
        in aioice."""
        found: list[Candidate] = []
        for connection, server in zip(self.connections, self._servers, strict=True):
            if server is None:
                continue
            hosts = [p for p in access.sockets(connection)
                     if getattr(p, "local_candidate", None) is not None
                     and p.local_candidate.type == "host" and ":" not in p.local_candidate.host]
            tasks = [asyncio.ensure_future(server_reflexive_candidate(p, server)) for p in hosts]
            if not tasks:
                continue
            try:
                done, _ = await asyncio.wait(tasks, timeout=timeout)
            finally:  # given up on, or cancelled (the link closed): stop asking
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if task.cancelled() or task.exception() is not None:
                    continue
                candidate = task.result()[0]
                access.add_local_candidate(connection, candidate)
                found.append(candidate)
        return found


def candidate_json(candidate: Candidate, sdp_mid: str | None, sdp_mline_index: int = 0) -> dict:
    """An aioice ``Candidate`` as the browser's ``RTCIceCandidate.toJSON()`` writes it."""
    return {"candidate": "candidate:" + candidate.to_sdp(), "sdpMid": sdp_mid,
            "sdpMLineIndex": sdp_mline_index}
