"""An agent's classroom requests: a teacher's :class:`~talklab.Classroom`, or a student's lab.

With these, a host of the network lab is a machine in a class (:mod:`.agent` lists the rest):

======================  =========================================================================
``classroom.start``     a :class:`~talklab.Classroom` on this host (``host``, ``port``,
                        ``networks``, ``turn``): its ``url``, ``token`` and ``exposes`` text
``classroom.dashboard`` what its dashboard holds (``GET /dashboard``'s ``rooms``)
``classroom.lock``      lock (``locked=True``) or open a ``room``
``student.join``        ``Lab(server=url)`` (one per agent) and a person in it (``name``,
                        ``room``, ``tone_hz``) joining voice; ``error`` names a refusal
``student.wait``        until every call is up and carrying audio (``timeout``), then what the
                        person hears and how each call goes (or, on timeout, how they are)
``student.status``      the same, now, without waiting
``http.get``            ``GET url`` from this host (``token``: as a Bearer): ``status``, ``body``
======================  =========================================================================

Tested in tests/test_classroom_netlab.py (a teacher's classroom and students' labs on the hosts of a
real network, through classroom.start, student.join, student.wait, classroom.dashboard and http.get;
root only).
"""

from __future__ import annotations

import asyncio
from typing import Any


class ClassOps:
    """The classroom requests of one agent (a teacher's host, or a student's)."""

    def __init__(self) -> None:
        self.classrooms: dict[int, Any] = {}  # port -> Classroom
        self.lab: Any = None
        self.person: Any = None

    def ops(self) -> dict[str, Any]:
        return {"classroom.start": self.classroom_start,
                "classroom.dashboard": self.classroom_dashboard,
                "classroom.lock": self.classroom_lock,
                "student.join": self.student_join, "student.wait": self.student_wait,
                "student.status": self.student_status, "http.get": self.http_get}

    # -- the teacher ----------------------------------------------------------------------------
    async def classroom_start(self, host: str, port: int = 5000,
                              networks: list[str] | None = None, turn: bool = True,
                              credential_ttl: int | None = None) -> dict[str, Any]:
        from talklab.classroom import CREDENTIAL_TTL, Classroom
        classroom = await Classroom(host, port, networks=networks, turn=turn,
                                    credential_ttl=credential_ttl or CREDENTIAL_TTL).start()
        self.classrooms[classroom.server.port] = classroom
        return {"url": classroom.url, "token": classroom.token, "exposes": classroom.exposes()}

    def _classroom(self, port: int) -> Any:
        if port not in self.classrooms:
            raise KeyError(f"no classroom on port {port} here")
        return self.classrooms[port]

    async def classroom_dashboard(self, port: int = 5000) -> list[dict]:
        rooms: list[dict] = self._classroom(port).dashboard()
        return rooms

    async def classroom_lock(self, room: str, port: int = 5000, locked: bool = True) -> None:
        classroom = self._classroom(port)
        (classroom.lock if locked else classroom.unlock)(room)

    # -- a student ------------------------------------------------------------------------------
    async def student_join(self, server: str, name: str, room: str = "ABCD12",
                           tone_hz: float | None = None) -> dict[str, Any]:
        from talklab.browser.person import SignalingError, VoiceError
        from talklab.lab.lab import Lab
        if self.lab is None:
            self.lab = await Lab(server=server).start()
        try:
            self.person = await self.lab.join(name, room=room, voice=True, tone_hz=tone_hz)
        except (SignalingError, VoiceError) as exc:
            return {"joined": False, "error": str(exc)}
        return {"joined": True, "address": self.person.address,
                "ice_servers": [s.urls for s in self.person.ice_servers]}

    def _state(self) -> dict[str, Any]:
        person = self.person
        if person is None:
            raise RuntimeError("no student here: student.join first")
        return {"hears": person.hears(),
                "links": {link.remote_name: {"state": link.state, "route": link.route}
                          for link in person.links.values()},
                "reports": person.reporter.reports if person.reporter else 0}

    async def student_wait(self, others: int, timeout: float = 20.0) -> dict[str, Any]:
        """Until the person has ``others`` calls, all carrying audio, and a second of each."""
        person = self.person
        if person is None:
            raise RuntimeError("no student here: student.join first")

        def up() -> bool:
            links = list(person.links.values())
            return len(links) == others and all(
                link.state in ("connected", "failed") for link in links)
        try:
            await person.wait_until(up, timeout, f"{others} calls settled")
            if all(link.state == "connected" for link in person.links.values()):
                await person.wait_heard(1.0, timeout)
        except TimeoutError as exc:
            return {"settled": False, "why": str(exc), **self._state()}
        return {"settled": True, **self._state()}

    async def student_status(self) -> dict[str, Any]:
        return self._state()

    async def http_get(self, url: str, token: str | None = None) -> dict[str, Any]:
        import aiohttp
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                session.get(url, headers=headers) as reply:
            return {"status": reply.status, "body": (await reply.text())[:20_000]}

    async def close(self) -> None:
        if self.lab is not None:
            await self.lab.close()
        await asyncio.gather(*(c.close() for c in self.classrooms.values()),
                             return_exceptions=True)
