"""The lab's own network: its STUN and TURN servers as people use them, and its NATs.

A lab never hands out a public server. Its TURN server (when ``Lab(turn=True)``) gives
time-limited credentials only (the REST-API scheme coturn uses with ``use-auth-secret``; the
secret never leaves the lab), minted per person and per ``/config`` request of the browser
page, and relays only between the lab's own hosts, NATs and relays: not to any other port on
this machine. NAT boxes (:meth:`LabNetwork.nat`) are the lab's too, and closed with it.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCIceServer

from .nat import Conditions, Nat
from .stun import StunServer
from .turn import TurnServer, rest_credentials

PERSON_TTL = 24 * 3600  # s: a person's TURN credentials (longer than any lesson)
CONFIG_TTL = 3600  # s: the browser page's, minted per /config request


class LabNetwork:
    """What :class:`talklab.Lab` offers of its network (a part of the lab, not used alone)."""

    stun: StunServer | None
    turn: TurnServer | None
    nats: list[Nat]
    people: dict[str, Any]
    config_ttl: int
    _turn_secret: str

    def ice_servers(self, tcp: bool = False, name: str = "person",
                    ttl: int = PERSON_TTL) -> list[RTCIceServer]:
        """The lab's own STUN/TURN servers, as a person (or the browser page) uses them, with
        TURN credentials minted for ``name``, valid ``ttl`` seconds. ``tcp`` offers TURN over
        TCP (aiortc uses one TURN URL only)."""
        servers = []
        if self.stun is not None and self.stun.endpoints is not None:
            servers.append(RTCIceServer(urls=self.stun.url))
        if self.turn is not None and self.turn.address is not None:
            username, password = rest_credentials(self._turn_secret, name, ttl,
                                                  now=self.turn.core.clock)
            servers.append(RTCIceServer(urls=self.turn.url_tcp if tcp else self.turn.url,
                                        username=username, credential=password))
        return servers

    def _ice_config(self) -> list[dict]:
        """What the server's ``/config`` hands the browser page: credentials minted for this
        request, living ``config_ttl`` seconds."""
        return [{"urls": s.urls, **({"username": s.username, "credential": s.credential}
                                    if s.username else {})}
                for s in self.ice_servers(name="page", ttl=self.config_ttl)]

    def _lab_peer(self, address: tuple[str, int]) -> bool:
        """Whom the lab's relay may send to: the lab's own hosts, NATs and relays."""
        ip = address[0]
        if self.turn is not None and self.turn.is_relay(address):
            return True
        return (any(p.address == ip for p in self.people.values())
                or any(n.public_ip == ip for n in self.nats))

    def nat(self, kind: str, **conditions: float) -> Nat:
        """A NAT box of ``kind`` (full-cone, restricted, port-restricted, symmetric, or
        udp-blocked: a firewall only TURN over TCP gets through); give the same one to several
        people (``lab.join(..., nat=box)``) to put them on one LAN.
        ``latency``, ``jitter`` (seconds) and ``loss`` (0..1) shape the path through it."""
        unknown = set(conditions) - {"latency", "jitter", "loss"}
        if unknown:
            raise TypeError(f"lab.nat() takes latency=, jitter= and loss=, not {sorted(unknown)}")
        box = Nat(kind, conditions=Conditions(**conditions))
        self.nats.append(box)
        return box
