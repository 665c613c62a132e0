"""The teacher's side of a class: one signaling server, STUN and TURN, on an address they name.

    classroom = await talklab.Classroom(host="192.168.1.10", networks=["192.168.1.0/24"])
    print(classroom.exposes())     # what anyone who can reach 192.168.1.10 now gets
    # each student: lab = await talklab.Lab(server=classroom.url)
    classroom.dashboard()          # every room, who is in voice, each link as its people report it
    classroom.lock("ABCD12")       # nobody new may join ABCD12

A class on one laptop (several kernels, one machine) needs nothing more than
``await Classroom()``: it listens on 127.0.0.1 and never leaves the machine. Listening on any
other address is the teacher's explicit choice, and :meth:`Classroom.exposes` says what that
opens to everyone who can route to it.

What a student's notebook (or the seed's page at ``/``) gets from ``GET /config``: the class's
STUN server and its TURN server with **time-limited credentials** (the REST-API scheme coturn
uses with ``use-auth-secret``: ``username = expiry:name``, ``password = base64(HMAC-SHA1(secret,
username))``; the secret never leaves this process), minted per request, valid
``credential_ttl`` seconds. There is no long-term password to leak.

The TURN server relays only to the class's own ``networks``, which the teacher names (note
that Python's ``ipaddress.is_private`` counts the documentation ranges, used for test hosts,
as private: talklab never guesses a class network from that); on loopback, to loopback only.
Everything else is refused (:mod:`talklab.turn.policy`).

Tested in tests/test_classroom.py (students' kernels join a loopback classroom and hear each other;
locks, the token, time-limited TURN credentials, a STUN server for the class only) and
tests/test_classroom_netlab.py (the same beyond loopback, in network namespaces; root only).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import secrets
from collections.abc import Callable, Generator, Iterable
from typing import Any, ClassVar

from talklab._service import Service
from talklab.address import Address, is_loopback
from talklab.events import until
from talklab.notebook import Sentence, made_by, note_made, on_interrupt
from talklab.server import DEFAULT_VOICE_CAP, SignalingServer
from talklab.stun import StunServer
from talklab.turn import PeerPolicy, TurnServer, rest_credentials

CREDENTIAL_TTL = 3 * 3600  # s: a lesson's length; a call relayed past it loses its relay
TURN_QUOTA = 50  # allocations per username: one per call, and /config mints one per request


def _networks(values: Iterable[str] | None, host: str) -> tuple[Any, ...]:
    if values is None:
        if is_loopback(host):
            return (ipaddress.ip_network("127.0.0.0/8"),)
        raise ValueError(
            f"a class on {host} needs its networks named, e.g. networks=['192.168.1.0/24']: "
            "the TURN server relays to those only (and to nothing else on the school's network)")
    if isinstance(values, str):
        raise TypeError("networks is a list of CIDR strings, e.g. ['192.168.1.0/24']")
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in values)
    except ValueError as exc:
        raise ValueError(f"networks: {exc}") from None


class ClassroomClosed(Sentence, RuntimeError):
    """A rehearsal asked of a classroom that is not running."""


class Classroom(Service):
    """The teacher's servers: signaling on ``host:port``, STUN and TURN beside it.

    ``networks`` (CIDR strings): where the class's people are, the only peers TURN relays to
    (required beyond loopback). ``stun``/``turn`` start those servers (both by default);
    ``stun_port``/``turn_port`` (0: free ports). ``credential_ttl``: how long the TURN
    credentials of each ``/config`` live. ``token``: the teacher's (random unless given),
    needed for ``/dashboard``, ``/trace`` and ``/lock``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 networks: Iterable[str] | None = None, stun: bool = True, turn: bool = True,
                 stun_port: int = 0, turn_port: int = 0, credential_ttl: int = CREDENTIAL_TTL,
                 voice_cap: int = DEFAULT_VOICE_CAP, token: str | None = None,
                 allowed_origins: Iterable[str] = ()) -> None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"host is the IP address to listen on, got {host!r}") from None
        if not isinstance(credential_ttl, int) or credential_ttl < 60:
            raise ValueError("credential_ttl is a whole number of seconds, at least 60")
        self.host = host
        self.networks = _networks(networks, host)
        self.credential_ttl = credential_ttl
        self._secret = secrets.token_urlsafe(24)
        # STUN and TURN serve the class: clients from its networks only (on loopback, the
        # machine's other interfaces, a browser's say, get no answer sent off loopback)
        self.stun = StunServer(host, stun_port, alternate_host=None,
                               clients=self._from_class) if stun else None
        self.turn = TurnServer(host, turn_port, users={}, secret=self._secret,
                               quota=TURN_QUOTA, clients=self._from_class, policy=PeerPolicy(
                                   allow_loopback=is_loopback(host), networks=self.networks,
                                   only=self._in_class)) if turn else None
        self.server = SignalingServer(host, port, voice_cap=voice_cap, ice_servers=self._config,
                                      token=token, allowed_origins=allowed_origins)
        self._started = False
        self.views: list[Any] = []  # live dashboards, stopped when the classroom closes
        self.students: dict[str, Any] = {}  # name -> a rehearsal student's Lab (rehearse())
        self.made_by = made_by()  # in a notebook, the cells that made and closed it
        self.closed_by: str | None = None
        self.first_people: str | None = None  # the cell that brought its first student in
        self._quiet_interrupt: Callable[[], None] | None = None
        note_made(f"Classroom {'with' if self.turn is not None else 'without'} turn",
                  self.made_by)

    @property
    def people(self) -> dict[str, Any]:
        """``{name: person}``: the rehearsal students (each in a lab of their own)."""
        return {name: person for lab in self.students.values()
                for name, person in lab.people.items()}

    current: ClassVar[Classroom | None] = None

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> Classroom:
        if self._started:
            return self
        try:
            for service in (self.stun, self.turn, self.server):
                if service is not None:
                    await service.start()
        except BaseException:
            await self.close()
            raise
        self._started = True
        self._quiet_interrupt = on_interrupt(self._interrupted)
        return self

    def _interrupted(self) -> str:
        """What Interrupt Kernel says of this classroom (its rehearsing students' labs say
        nothing of their own: :func:`talklab.notebook.on_interrupt`)."""
        if not self._started:
            return ""
        names = ", ".join(self.students) or "no student yet"
        remake = f"the cell with {self.made_by}" if self.made_by else \
            "the cell that makes it (`classroom = await talklab.Classroom(...)`)"
        return (f"The classroom is still running ({names}). Run this cell again before the "
                "next (it did not finish: what it was making may be missing); if the class "
                f"seems stuck, run {remake} again.")

    async def close(self) -> None:
        """Stop every server (students' calls already up carry on: the seed's Step 9)."""
        if self._quiet_interrupt is not None:
            self._quiet_interrupt()
            self._quiet_interrupt = None
        if self._started:
            self.closed_by = made_by()
        views, self.views = self.views, []
        for view in views:
            view.close()
        students, self.students = list(self.students.values()), {}
        await asyncio.gather(*(lab.close() for lab in students), return_exceptions=True)
        for service in (self.server, self.turn, self.stun):
            if service is not None:
                await service.close()
        self._started = False
        if Classroom.current is self:
            Classroom.current = None

    def __await__(self) -> Generator[Any, None, Classroom]:
        """``classroom = await Classroom(...)`` starts it, closing the classroom the last
        ``await Classroom(...)`` made (so re-running a notebook cell leaves one, not two)."""
        return self._replace().__await__()

    async def _replace(self) -> Classroom:
        previous = Classroom.current
        if previous is not None and previous is not self:
            await previous.close()
            self.first_people = self.first_people or previous.first_people
        await self.start()
        Classroom.current = self
        return self

    # -- what the class gets ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._started

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        """The teacher's secret: ``/dashboard``, ``/trace`` and ``/lock`` need it."""
        return self.server.token

    def _from_class(self, ip: str) -> bool:
        """Whom the class's STUN and TURN servers answer: its own networks."""
        return _in(ip, self.networks)

    def _in_class(self, peer: Address) -> bool:
        """TURN's ``only`` rule: a peer in the class's networks (or one of TURN's own relays)."""
        return _in(peer[0], self.networks) or (self.turn is not None and self.turn.is_relay(peer))

    def ice_servers(self, name: str = "page") -> list[dict]:
        """The class's ICE servers as ``/config`` hands them out, TURN credentials minted now
        for ``name``, valid :attr:`credential_ttl` seconds."""
        servers: list[dict] = []
        if self.stun is not None and self.stun.endpoints is not None:
            servers.append({"urls": self.stun.url})
        if self.turn is not None and self.turn.address is not None:
            username, password = rest_credentials(self._secret, name, self.credential_ttl,
                                                  now=self.turn.core.clock)
            servers.append({"urls": self.turn.url, "username": username,
                            "credential": password})
        return servers

    def _config(self) -> list[dict]:
        return self.ice_servers(f"class-{secrets.token_hex(3)}")

    def exposes(self) -> str:
        """What this classroom opens, and to whom: print it before a class starts."""
        where = ("loopback only: nothing leaves this machine" if is_loopback(self.host) else
                 "BEYOND LOOPBACK: anyone who can route to this address reaches what follows")
        nets = ", ".join(str(n) for n in self.networks)
        lines = [f"talklab classroom on {self.host} ({where})",
                 f"  signaling  {self.url}   (students give this URL to their labs: "
                 "talklab.Lab's server=)",
                 f"             page: {self.url}/   health (counts only): {self.url}/health"]
        if self.stun is not None:
            lines.append(f"  STUN       {self.stun.url if self.stun.endpoints else 'STUN'}")
        if self.turn is not None:
            lines.append(f"  TURN       {self.turn.url if self.turn.address else 'TURN'} "
                         f"(and TCP), credentials from /config living "
                         f"{self.credential_ttl // 60} min; relays only to {nets}")
        lines.append(f"  teacher's token: {self.token}  (dashboard: {self.url}/dashboard?token="
                     f"{self.token}; trace and lock likewise; keep it to yourself)")
        return "\n".join(lines)

    async def rehearse(self, name: str, room: str = "ABCD12", **options: Any) -> Any:
        """A student, for a rehearsal on this machine: what each student's kernel does,
        ``lab = await talklab.Lab(server=classroom.url)`` then ``await lab.join(name,
        room=room, voice=True, **options)``, in a lab of their own (``classroom.students``).
        Rehearsing a name again closes that student's earlier lab first; the classroom closes
        its students' labs when it closes, before its servers."""
        from talklab.lab.lab import Lab
        if not self._started:
            again = f"the cell with {self.made_by}" if self.made_by else \
                "the cell that makes the classroom"
            raise ClassroomClosed(f"this classroom is not running (closed by the cell with "
                                  f"{self.closed_by or 'a close'}): run {again} again")
        if not self.first_people:
            self.first_people = made_by()
            note_made("first people of Classroom", self.first_people)
        earlier = self.students.pop(name, None)
        if earlier is not None:
            await earlier.close()
        lab = self.students[name] = Lab(server=self.url, speaks_on_interrupt=False)
        try:
            await lab.start()
            return await lab.join(name, room=room, voice=True, **options)
        except BaseException:  # (refused, or interrupted: nothing of it stays)
            self.students.pop(name, None)
            await lab.close()
            raise

    # -- the teacher's controls ---------------------------------------------------------------
    def dashboard(self) -> list[dict]:
        """Every room as the teacher sees it (see :mod:`talklab.server.classroom`)."""
        return self.server.app.dashboard()

    async def wait_reported(self, room: str = "ABCD12", calls: int = 1,
                            timeout: float = 10) -> dict:
        """Wait until ``room`` has ``calls`` calls that both their people have reported, each
        settled (connected, or failed at one end at least); returns the room as
        :meth:`dashboard` has it."""
        changed = asyncio.Event()
        listeners = self.server.app.classroom.listeners
        listeners.append(changed.set)

        def settled() -> dict | None:
            for shown in self.dashboard():
                if shown["room"] == room and len(shown["links"]) >= calls and all(
                        link["state"] in ("connected", "failed") and None not in
                        link["reports"].values() for link in shown["links"]):
                    return shown
            return None

        try:
            return await until(changed, settled, timeout)
        except TimeoutError:
            raise TimeoutError(f"within {timeout} s, not every call of {room} was reported "
                               "by both its people, connected or failed") from None
        finally:
            listeners.remove(changed.set)

    def view(self) -> Any:
        """The dashboard as it is now, drawn: one mesh per room, each link as its people
        report it (a snapshot that stays after the class)."""
        from talklab.classroom.dashboard import DashboardView
        return DashboardView(self.dashboard, voice_cap=self.server.app.store.voice_cap)

    def live(self) -> Any:
        """The dashboard as a live widget, redrawn as the class changes."""
        from talklab.classroom.dashboard import LiveDashboard
        return LiveDashboard(self)

    def lock(self, room: str) -> None:
        """Nobody new may join ``room`` (those in it stay)."""
        self.server.app.classroom.lock(room)

    def unlock(self, room: str) -> None:
        self.server.app.classroom.unlock(room)

    def __repr__(self) -> str:
        state = self.url if self._started else "not started"
        return f"<Classroom {state}>"


@functools.lru_cache(maxsize=1024)
def _in_cached(ip: str, networks: tuple[Any, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def _in(ip: str, networks: tuple[Any, ...]) -> bool:
    return _in_cached(ip, networks)
