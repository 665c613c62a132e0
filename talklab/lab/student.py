"""The student's side of a class: a lab whose people join a teacher's server.

``lab = await talklab.Lab(server="http://192.168.1.10:5000")`` starts no server of its own.
Its people connect to the teacher's signaling server, use the ICE servers its ``/config``
hands out (the class's STUN, and TURN with time-limited credentials, fetched again for each
person), and gather ICE candidates on the address of this machine that routes to the teacher's
server: loopback for a loopback URL (a class on one laptop never leaves the machine), the
school network's interface otherwise. They check classmates' candidates within a wider
:class:`~talklab.address.Scope` (any unicast address, or the ``networks`` the student names),
and tell the teacher's dashboard how each call is (:mod:`.report`).

Nothing here contacts an address the student did not name: the ICE servers ``/config`` hands
out must be on the teacher's own address (a ``/config`` naming another host, a public STUN
server say, is refused with the reason), and simulated NATs, which live in this kernel, belong
to local labs only.

Tested in tests/test_classroom.py (students' labs join a teacher's classroom by URL; what a
student's lab refuses, a /config naming another host included; the address it gathers on).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiortc import RTCIceServer

from talklab.address import Scope, is_loopback
from talklab.browser.media import tone_for_name
from talklab.browser.person import Person
from talklab.nat import Host


class RemoteError(RuntimeError):
    """The teacher's server could not be used (unreachable, or a /config talklab refuses)."""


def server_host(url: object) -> str:
    """The IP address of a teacher's ``http://HOST:PORT`` URL (ValueError otherwise).

    An IP address, not a name: a name would need a lookup talklab cannot vouch for, and the
    address is what the student's machine routes by (``localhost`` is taken as 127.0.0.1)."""
    if not isinstance(url, str):
        raise TypeError(f"server is the teacher's URL, e.g. 'http://192.168.1.10:5000', "
                        f"got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"server is the teacher's URL, e.g. 'http://192.168.1.10:5000', "
                         f"got {url!r}")
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"give the teacher's server by IP address (http://192.168.1.10:5000),"
                         f" not by name ({parts.hostname!r})") from None
    return host


def route_address(host: str) -> str:
    """This machine's address on the way to ``host``: what the kernel's routing table picks as
    the source (a UDP socket's connect sends nothing). Loopback for a loopback host."""
    if is_loopback(host):
        return "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
        except OSError as exc:
            raise RemoteError(f"no route from this machine to {host}: {exc.strerror or exc}") \
                from None
        address: str = probe.getsockname()[0]
    return address


def _url_host(url: str) -> str:
    """The host of a ``stun:``/``turn:``/``turns:`` URL (RFC 7064, RFC 7065)."""
    rest = url.split(":", 1)[1] if ":" in url else ""
    rest = rest.split("?", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def checked_ice_servers(servers: object, host: str) -> list[RTCIceServer]:
    """``/config``'s ``iceServers`` as aiortc's, each on the teacher's own ``host``."""
    if not isinstance(servers, list):
        raise RemoteError(f"the teacher's /config has no iceServers list: {servers!r}")
    out = []
    for server in servers:
        if not isinstance(server, dict) or "urls" not in server:
            raise RemoteError(f"the teacher's /config has a bad ICE server: {server!r}")
        urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("stun:", "turn:", "turns:")):
                raise RemoteError(f"the teacher's /config has a bad ICE server URL: {url!r}")
            if _url_host(url) != host:
                raise RemoteError(
                    f"the teacher's /config names {url}, which is not on the teacher's own "
                    f"address {host}: talklab contacts only the address you gave it")
        out.append(RTCIceServer(urls=urls if len(urls) > 1 else urls[0],
                                username=server.get("username"),
                                credential=server.get("credential")))
    return out


@dataclass
class RemoteServer:
    """The teacher's server as one student's lab uses it: where a student lab's people find the
    seed's servers (a local lab finds its own, :class:`talklab.lab.servers.LocalServers`)."""

    url: str
    host: str  # the teacher's address
    address: str  # ours, on the way there
    scope: Scope
    voice_cap: int | None = None

    remote: ClassVar[bool] = True
    server: ClassVar[None] = None  # (the signaling server is the teacher's, not this lab's)
    stun: ClassVar[None] = None
    turn: ClassVar[None] = None

    @classmethod
    def of(cls, url: str, networks: list[str] | None = None) -> RemoteServer:
        host = server_host(url)
        if networks is not None and (isinstance(networks, str) or not all(
                isinstance(n, str) for n in networks)):
            raise TypeError("networks is a list of CIDR strings, e.g. ['192.168.1.0/24']")
        scope = Scope.loopback() if is_loopback(host) and networks is None else \
            Scope.unicast(networks)
        return cls(url.rstrip("/"), host, route_address(host), scope)

    async def config(self, timeout: float = 5) -> dict:
        """``GET /config``: the class's ICE servers (credentials minted for this request)."""
        import aiohttp  # (only a student's lab needs the HTTP client)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) \
                    as session, session.get(f"{self.url}/config") as response:
                if response.status != 200:
                    raise RemoteError(f"the teacher's server answered /config with "
                                      f"{response.status}: {(await response.text())[:200]}")
                body = await response.json()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RemoteError(f"cannot reach the teacher's server at {self.url}: "
                              f"{exc or type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise RemoteError(f"the teacher's /config is not a JSON object: {body!r}")
        cap = body.get("voiceCap")
        self.voice_cap = cap if isinstance(cap, int) else None
        return body

    async def ice_servers(self) -> list[RTCIceServer]:
        return checked_ice_servers((await self.config()).get("iceServers"), self.host)

    # -- as a lab's servers ---------------------------------------------------------------------
    async def start(self) -> None:
        await self.config()  # (reachable? its voice cap)

    async def close(self) -> None:
        """Nothing of the teacher's is this lab's to close."""

    def refuse(self, **options: Any) -> None:
        refuse_local_options(**options)

    def tone(self, name: str, taken: Iterable[float | None]) -> float:
        """A student's voice, chosen from their name: the same in every classmate's kernel."""
        return tone_for_name(name)

    async def person(self, name: str, stream: Any, *, nat: Any = None, relay_only: bool = False,
                     ice_servers: Any = None, trickle: bool = True, events: Any = None,
                     settings: Any = None) -> Any:
        """A student's person: on this machine's address toward the teacher, with ICE servers
        fetched for them now, checking classmates within :attr:`scope`, reporting its calls."""
        self.refuse(nat=nat, ice_servers=ice_servers)
        return Person(name, stream, host=Host(self.address), ice_servers=await self.ice_servers(),
                      scope=self.scope, report_links=True, relay_only=relay_only,
                      trickle=trickle, events=events, settings=settings)

    @staticmethod
    def offered(people: Iterable[Any]) -> tuple[bool, bool]:
        """Whether the ICE servers the teacher handed ``people`` include STUN, and TURN."""
        urls = [str(u) for p in people for s in p.ice_servers
                for u in (s.urls if isinstance(s.urls, list) else [s.urls])]
        return any(u.startswith("stun:") for u in urls), any(u.startswith("turn") for u in urls)


def refuse_local_options(**given: object) -> None:
    """A student's lab uses the teacher's servers and this machine's real network: the options
    that start local servers or simulate a network are refused, with the reason."""
    for name, value in given.items():
        if value not in (None, False, "none", "mesh"):
            raise ValueError(
                f"{name}= belongs to a local lab: a lab joined to a teacher's server uses the "
                "teacher's servers (its ICE servers come from the teacher's /config) and this "
                "machine's real network (simulated NATs live in one kernel)")
