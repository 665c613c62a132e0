"""A lab's own servers, on loopback: the seed's signaling server, and its STUN and TURN servers
when asked for; and the NAT boxes its people sit behind.

A lab never hands out a public server. Its TURN server (when ``Lab(turn=True)``) gives
time-limited credentials only (the REST-API scheme coturn uses with ``use-auth-secret``; the
secret never leaves the lab), minted per person and per ``/config`` request of the browser
page, and relays only between the lab's own hosts, NATs and relays: not to any other port on
this machine. NAT boxes (:meth:`LocalServers.nat`) are the lab's too, and closed with it.

:class:`LocalServers` is where a local lab's people find the seed's servers; a student's lab
finds the teacher's instead (:class:`talklab.lab.student.RemoteServer`). Both make a
person that uses them (:meth:`LocalServers.person`), so the lab itself never asks which it has.

Tested in tests/test_lab_turn.py (a lab's /config credentials are minted per request and expire; its
relay reaches the lab's own hosts only) and by every local lab (tests/test_mesh.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from aiortc import RTCIceServer

from talklab._aiortc import Settings
from talklab.browser.media import MediaStream, free_tone
from talklab.browser.person import Person
from talklab.events import EventBus
from talklab.nat import Conditions, Host, Nat
from talklab.server import SignalingServer
from talklab.stun import StunServer
from talklab.turn import PeerPolicy, TurnServer, rest_credentials

PERSON_TTL = 24 * 3600  # s: a person's TURN credentials (longer than any lesson)
CONFIG_TTL = 3600  # s: the browser page's, minted per /config request
PEOPLE_TTL_QUOTA = 20  # allocations per TURN username: a person has one per call


class LocalServers:
    """The seed's servers, this lab's own, on loopback (one signaling server on a free port;
    STUN and TURN when asked for), and its NATs. ``hosts()`` (from the lab) gives the addresses
    of the lab's people now: the only hosts its TURN server relays to."""

    remote = False

    def __init__(self, *, host: str, voice_cap: int, stun: bool, turn: bool,
                 redis: str | None, hosts: Callable[[], Iterable[str]]) -> None:
        self.host, self.voice_cap, self.redis = host, voice_cap, redis
        self._hosts = hosts
        self.stun = StunServer() if stun else None
        # The lab's TURN server hands out time-limited credentials only, and relays only
        # between the lab's own hosts and relays: not to any other port on this machine.
        self._turn_secret = secrets.token_urlsafe(24)
        self.config_ttl = CONFIG_TTL  # s: credentials in /config (the browser page) live this long
        self.turn = TurnServer(users={}, secret=self._turn_secret, quota=PEOPLE_TTL_QUOTA,
                               policy=PeerPolicy(allow_loopback=True, only=self._lab_peer)) \
            if turn else None
        self.server: SignalingServer | None = None
        self.nats: list[Nat] = []

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.stun is not None:
            await self.stun.start()
        if self.turn is not None:
            await self.turn.start()
        self.server = SignalingServer(self.host, 0, voice_cap=self.voice_cap,
                                      redis_url=self.redis, ice_servers=self._ice_config)
        await self.server.start()

    async def close(self) -> None:
        for service in (self.server, self.stun, self.turn):
            if service is not None:
                await service.close()
        for nat in self.nats:
            nat.close()
        self.nats.clear()

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("the lab is not running: `lab = await talklab.Lab()` starts one")
        return self.server.url

    # -- the people who use them ----------------------------------------------------------------
    def refuse(self, **options: Any) -> None:
        """A local lab takes every option a person can have."""

    def tone(self, name: str, taken: Iterable[float | None]) -> float:
        """A new person's voice: the first tone nobody in the lab has."""
        return free_tone(taken)

    async def person(self, name: str, stream: MediaStream, *, nat: str | Nat | None,
                     relay_only: bool, ice_servers: list[RTCIceServer] | None, trickle: bool,
                     events: EventBus, settings: Settings) -> Person:
        """A person of this lab: on an address of their own (behind ``nat``: a kind, for a NAT
        box of their own, or a box shared with others), with the lab's STUN and TURN servers
        (``ice_servers`` replaces them: loopback ones only)."""
        if isinstance(nat, str) and nat != "none":
            nat = self.nat(nat)
        host = nat.host() if isinstance(nat, Nat) else Host()
        blocked = isinstance(nat, Nat) and nat.blocks_udp
        servers = self.ice_servers(tcp=blocked, name=name) if ice_servers is None else \
            ice_servers
        return Person(name, stream, host=host, ice_servers=servers, relay_only=relay_only,
                      trickle=trickle, events=events, settings=settings)

    def offered(self, people: Iterable[Any]) -> tuple[bool, bool]:
        """Whether the lab's people have a STUN server, and a TURN server."""
        return self.stun is not None, self.turn is not None

    # -- what the lab offers of its network -----------------------------------------------------
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
        return ip in set(self._hosts()) or any(n.public_ip == ip for n in self.nats)

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
