"""One ICE negotiation between two aioice agents, the same code on real and simulated hosts.

A :class:`Peer` is one aioice ``Connection`` (RFC 8445): it gathers its candidates (host, and
srflx from the STUN server, relay from the TURN server when it has one), takes the other side's
description, runs its checks and reports an :class:`Outcome`: connected or not, and the route
of the pair ICE selected. It knows nothing of where it runs: in an agent inside a network
namespace behind a real Linux NAT, or in this process behind talklab's simulated NAT.

:func:`negotiate` is the signaling between two ends: descriptions (ufrag, password, every
candidate, then end-of-candidates) swapped, then both sides connect at once. The ends may be
:class:`Peer` objects or proxies of peers in agents (:class:`talklab.netlab.agents.RemotePeer`):
anything with the same three coroutines.

Tested in tests/test_aiortc_internals.py (two Peers gather, swap descriptions and connect on
loopback in a lab's settings, without root) and tests/test_netlab.py (every negotiation of
compare.run, on real and simulated hosts; root only).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aioice import Candidate, Connection

from talklab._aiortc import access
from talklab.address import Address
from talklab.ice.inspect import route_of
from talklab.tasks import within

ROUTES = ("host", "srflx", "prflx", "relay")


@dataclass(frozen=True)
class Description:
    """The ICE half of an offer or answer: credentials and every candidate (SDP syntax)."""

    username: str
    password: str
    candidates: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Description:
        return cls(str(obj["username"]), str(obj["password"]),
                   [str(c) for c in obj.get("candidates", [])])


@dataclass(frozen=True)
class Outcome:
    """What one side's ICE agent ended with."""

    connected: bool
    route: str | None  # host, srflx, prflx, relay: the worse of the selected pair's two
    local: str | None = None  # "srflx 198.51.100.10:40000": the selected pair, this side
    remote: str | None = None
    seconds: float = 0.0  # from connect() to its end
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Outcome:
        return cls(bool(obj["connected"]), obj.get("route"), obj.get("local"),
                   obj.get("remote"), float(obj.get("seconds", 0.0)), obj.get("error"))

    def __str__(self) -> str:
        return self.route or "?" if self.connected else "failed"


def _show(candidate: Candidate) -> str:
    return f"{candidate.type} {candidate.host}:{candidate.port}"


class Peer:
    """One ICE agent (aioice ``Connection``, one component, IPv4)."""

    def __init__(self, controlling: bool, stun: Address | None = None,
                 turn: Address | None = None, turn_username: str | None = None,
                 turn_password: str | None = None) -> None:
        self.connection = Connection(ice_controlling=controlling, stun_server=stun,
                                     turn_server=turn, turn_username=turn_username,
                                     turn_password=turn_password, use_ipv6=False)

    async def gather(self) -> Description:
        await self.connection.gather_candidates()
        c = self.connection
        return Description(c.local_username, c.local_password,
                           [x.to_sdp() for x in c.local_candidates])

    async def remote(self, description: Description) -> None:
        self.connection.remote_username = description.username
        self.connection.remote_password = description.password
        for line in description.candidates:
            await self.connection.add_remote_candidate(Candidate.from_sdp(line))
        await self.connection.add_remote_candidate(None)  # end-of-candidates

    async def connect(self, timeout: float) -> Outcome:
        t0 = time.monotonic()
        error = None
        try:
            await within(self.connection.connect(), timeout)
        except ConnectionError as exc:
            error = f"ICE failed: {exc}"
        except TimeoutError:
            error = f"no decision within {timeout:g} s"
        seconds = round(time.monotonic() - t0, 3)
        pair = access.selected_pair(self.connection)  # (aioice has no accessor of its own)
        if error is not None or pair is None:
            return Outcome(False, None, seconds=seconds, error=error or "nothing nominated")
        local, remote = pair.local_candidate, pair.remote_candidate
        return Outcome(True, route_of(pair), _show(local), _show(remote), seconds)

    async def close(self) -> None:
        await self.connection.close()


class End(Protocol):
    """Either side of :func:`negotiate`: a :class:`Peer`, or a proxy of one elsewhere."""

    async def gather(self) -> Description: ...

    async def remote(self, description: Description) -> None: ...

    async def connect(self, timeout: float) -> Outcome: ...


async def negotiate(a: End, b: End, timeout: float = 20.0) -> tuple[Outcome, Outcome]:
    """Swap descriptions between ``a`` (controlling) and ``b``, then connect both at once."""
    da, db = await asyncio.gather(a.gather(), b.gather())
    await asyncio.gather(a.remote(db), b.remote(da))
    oa, ob = await asyncio.gather(a.connect(timeout), b.connect(timeout))
    return oa, ob
