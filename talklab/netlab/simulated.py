"""The same ICE negotiations as on the real network, through talklab's simulated NATs.

Each end is a :class:`~talklab.netlab.pairing.Peer`, the very class an agent runs, on a
:class:`talklab.nat.Host` behind a :class:`talklab.nat.Nat` of the simulator's type, in this
process, on loopback; the STUN server (two addresses, for RFC 5780) and the TURN server are
talklab's own, on loopback too. talklab's aioice adjustments are installed with the same
settings as in the agents, plus the two that make the simulator (gathering on the host's
loopback address, and the NAT shim: :mod:`talklab._aiortc.gathering`).

Tested in tests/test_netlab.py (the simulated side of compare.run's matrices; root only).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from talklab import _aiortc
from talklab.nat import Nat
from talklab.nat.network import Host
from talklab.netlab.pairing import Description, Outcome, Peer, negotiate
from talklab.stun import StunServer
from talklab.turn import TurnServer
from talklab.turn.credentials import rest_credentials
from talklab.turn.policy import PeerPolicy


class SimulatedPeer:
    """A :class:`Peer` gathering as a simulated host (its address, behind its NAT)."""

    def __init__(self, host: Host, peer: Peer) -> None:
        self.host, self.peer = host, peer

    async def gather(self) -> Description:
        with _aiortc.gathering_on(self.host):
            return await self.peer.gather()

    async def remote(self, description: Description) -> None:
        await self.peer.remote(description)

    async def connect(self, timeout: float) -> Outcome:
        return await self.peer.connect(timeout)

    async def close(self) -> None:
        await self.peer.close()


@dataclass
class Servers:
    stun: StunServer
    turn: TurnServer | None
    secret: str

    def options(self, name: str) -> dict:
        """What a :class:`Peer` is given: the STUN server, and TURN with fresh credentials."""
        options: dict = {"stun": self.stun.address}
        if self.turn is not None:
            username, password = rest_credentials(self.secret, name, ttl=600)
            options.update(turn=self.turn.address, turn_username=username,
                           turn_password=password)
        return options


async def matrix(pairs: Iterable[tuple[str, str]], *, turn: bool = False,
                 check_retries: int = 3, timeout: float = 20.0
                 ) -> dict[tuple[str, str], tuple[Outcome, Outcome]]:
    """For each (a, b) of simulator NAT types: a peer behind a NAT of type a (controlling) and
    one behind a NAT of type b, negotiated at once; both sides' outcomes."""
    pairs = list(pairs)
    secret = secrets.token_hex(16)
    with _aiortc.running(_aiortc.Settings(check_retries=check_retries)):
        stun = await StunServer().start()
        relay = None
        if turn:
            relay = await TurnServer(users={}, secret=secret,
                                     policy=PeerPolicy(allow_loopback=True)).start()
        servers = Servers(stun, relay, secret)
        nats: list[Nat] = []
        ends: list[SimulatedPeer] = []

        def end(kind: str, controlling: bool, name: str) -> SimulatedPeer:
            nat = Nat(kind)
            nats.append(nat)
            made = SimulatedPeer(nat.host(), Peer(controlling, **servers.options(name)))
            ends.append(made)
            return made

        try:
            outcomes = await asyncio.gather(*(
                negotiate(end(a, True, f"{a}-a"), end(b, False, f"{b}-b"), timeout)
                for a, b in pairs))
        finally:
            await asyncio.gather(*(e.close() for e in ends), return_exceptions=True)
            for nat in nats:
                nat.close()
            await stun.close()
            if relay is not None:
                await relay.close()
    return dict(zip(pairs, outcomes, strict=True))
