"""What ICE decided, read from a live aiortc connection: the browser's stats aiortc lacks.

aiortc's ``getStats()`` has no candidate or candidate-pair entries (aiortc issue #1435), so
talklab reads the aioice agent underneath (through :mod:`talklab._aiortc.access`, which names
aiortc's and aioice's internals): the agent behind the peer connection's transport, its check
list (the candidate pairs) and the pair ICE selected (RFC 8445, 8.1.1). Every state change of a
pair goes through ``Connection.check_state``, which talklab records while a lab runs
(:mod:`talklab._aiortc`, adjustment 5).

Tested in tests/test_network_lab.py (a live call's candidates and pairs, with real priorities and
the nominated pair) and tests/test_exercises_05.py (every pair's history, as notebook 05 reads it).
"""

from __future__ import annotations

from aioice import Candidate, Connection
from aioice.ice import CandidatePair
from aiortc import RTCPeerConnection

from talklab._aiortc import access
from talklab.ice.priority import breakdown, pair_priority


def ice_connection(pc: RTCPeerConnection) -> Connection | None:
    """The aioice agent behind the (single, bundled) audio transport of ``pc``."""
    return access.ice_connection(pc)


def selected_pair(pc: RTCPeerConnection) -> CandidatePair | None:
    """The nominated candidate pair of component 1 (RTP), once ICE has chosen one."""
    connection = ice_connection(pc)
    if connection is None:
        return None
    return access.selected_pair(connection)


def route_of(pair: CandidatePair | None) -> str | None:
    """How audio travels on ``pair``: ``relay`` if either side is a TURN relay candidate, else
    ``srflx`` or ``prflx`` if either side was learnt through STUN or a check, else ``host``."""
    if pair is None:
        return None
    types = {pair.local_candidate.type, pair.remote_candidate.type}
    for kind in ("relay", "srflx", "prflx"):
        if kind in types:
            return kind
    return "host"


def candidate_row(c: Candidate, side: str) -> dict:
    b = breakdown(c.priority)
    return {"side": side, "type": c.type, "protocol": c.transport, "address": c.host,
            "port": c.port, "priority": c.priority, "type_preference": b["type_preference"],
            "local_preference": b["local_preference"], "component": b["component"],
            "foundation": c.foundation,
            "related": f"{c.related_address}:{c.related_port}" if c.related_address else ""}


def candidates(pc: RTCPeerConnection) -> list[dict]:
    """Local then remote candidates, each with its priority broken down."""
    connection = ice_connection(pc)
    if connection is None:
        return []
    return ([candidate_row(c, "local") for c in connection.local_candidates] +
            [candidate_row(c, "remote") for c in connection.remote_candidates])


def pairs(pc: RTCPeerConnection, since: float | None = None) -> list[dict]:
    """The check list: each pair's candidates, priority, state, history and nomination.

    ``history`` is ``[(seconds, state), ...]`` on one clock for the whole check list: seconds
    since ``since`` (a ``time.monotonic()`` value, e.g. when the link was made), by default
    since the first state change of any pair, so that pairs can be compared in time."""
    connection = ice_connection(pc)
    if connection is None:
        return []
    chosen = access.selected_pair(connection)
    seen = access.check_list(connection)
    if chosen is not None and chosen not in seen:
        seen.append(chosen)
    if since is None:
        since = min((h[0][0] for h in (getattr(p, "talklab_history", None) for p in seen)
                     if h), default=0.0)
    rows = []
    for pair in seen:
        local, remote = pair.local_candidate, pair.remote_candidate
        g, d = ((local.priority, remote.priority) if connection.ice_controlling
                else (remote.priority, local.priority))
        history = getattr(pair, "talklab_history", [])
        rows.append({
            "local": f"{local.type} {local.host}:{local.port}",
            "remote": f"{remote.type} {remote.host}:{remote.port}",
            "priority": pair_priority(g, d),
            "state": pair.state.name,
            "history": [(round(t - since, 4), s) for t, s in history],
            "nominated": pair is chosen,
        })
    return rows
