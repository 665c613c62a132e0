"""What a lab is made of, as two interfaces: where its people find the seed's servers, and how
its rooms carry their voices.

A :class:`talklab.Lab` holds one of each and asks them; it never asks which it holds:

* :class:`Servers`: the lab's own servers on loopback (:class:`talklab.lab.servers.LocalServers`),
  or a teacher's, reached by URL (:class:`talklab.lab.student.RemoteServer`);
* :class:`Rooms`: the seed's full mesh, people calling each other peer to peer through the
  seed's signaling (:class:`talklab.lab.mesh.MeshRooms`), or rooms on the lab's own Janus, an SFU
  or an MCU (:class:`talklab.lab.janus_rooms.JanusRooms`).

This module defines the interfaces only (a leaf: it imports nothing of talklab's), so that
each side can be typed against the other without an import running back up.

No logic of its own: two interfaces (typing Protocols), tested through the classes that implement
them (tests/test_mesh.py, tests/test_topologies.py, tests/test_classroom.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Servers(Protocol):
    """Where a lab's people find the seed's servers."""

    @property
    def remote(self) -> bool:
        """A teacher's (a student's lab), not the lab's own."""

    @property
    def voice_cap(self) -> int | None:
        """Seats in a room's voice channel (a teacher's: known once started)."""

    @property
    def server(self) -> Any:
        """The lab's own signaling server (None for a teacher's)."""

    @property
    def stun(self) -> Any: ...
    @property
    def turn(self) -> Any: ...
    @property
    def url(self) -> str: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def refuse(self, **options: Any) -> None:
        """Raise ``ValueError`` for a person's options these servers cannot give."""

    def tone(self, name: str, taken: Iterable[float | None]) -> float:
        """A new person's synthetic voice, among the lab's."""

    async def person(self, name: str, stream: Any, *, nat: Any, relay_only: bool,
                     ice_servers: Any, trickle: bool, events: Any, settings: Any) -> Any:
        """A person who uses these servers (not connected yet)."""

    def offered(self, people: Iterable[Any]) -> tuple[bool, bool]:
        """Whether ``people`` were given a STUN server, and a TURN server."""


class Rooms(Protocol):
    """How a lab's rooms carry voices, and the people in them."""

    @property
    def topology(self) -> str:
        """``"mesh"``, ``"sfu"`` or ``"mcu"``."""

    @property
    def people(self) -> dict[str, Any]: ...

    @property
    def janus(self) -> Any:
        """The lab's Janus (None for the mesh)."""

    def check(self) -> None:
        """Raise, before anything starts, if these rooms cannot run here."""

    async def start(self) -> None: ...
    async def close(self, because: str) -> None: ...

    async def join(self, name: str, room: str, *, voice: bool, tone_hz: float | None,
                   stream: Any, nat: Any, relay_only: bool, ice_servers: Any,
                   trickle: bool) -> Any:
        """``lab.join`` for these rooms: the person, in ``room`` (and in voice)."""

    def on(self, event: str, handler: Callable[..., Any] | None) -> None:
        """Every person, now and later, handles ``event`` with ``handler`` (the seed's)."""

    async def wait_connected(self, timeout: float) -> None: ...
    def graph(self) -> Any: ...
