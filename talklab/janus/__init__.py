"""Past the mesh: a real Janus WebRTC server that talklab starts, for SFU and MCU rooms.

In the seed's full mesh every person sends n−1 copies of their voice. A media server changes
that: Janus's *VideoRoom* plugin forwards each voice (an SFU: upload 1, download n−1) and its
*AudioBridge* plugin mixes them (an MCU: upload 1, download 1). This package runs the real
thing, Debian's ``janus``, on loopback only, with aiortc people as its clients:

* :mod:`.server` — :class:`Janus`: the process, its generated configuration, its lifecycle;
* :mod:`.config` — what the configuration says, and why (secret, Origin, loopback, plugins);
* :mod:`.loopback` — the ``getifaddrs`` guard that keeps Janus on 127.0.0.0/8, and the
  checks that prove it (its sockets, its SDP);
* :mod:`.client` — the Janus API over HTTP: sessions, handles, messages, the long poll;
* :mod:`.peer` — :class:`JanusLink`: one aiortc connection between a person and Janus;
* :mod:`.room` — what both rooms share (a room, a person, streams counted);
* :mod:`.sfu` — :class:`SfuRoom` / :class:`SfuPerson` (VideoRoom, audio only);
* :mod:`.mcu` — :class:`McuRoom` / :class:`McuPerson` (AudioBridge);
* :mod:`.mix` — who is talking in a mix: the level of each known tone.

Signaling for these rooms is Janus's own API, not the seed's Socket.IO events::

    from talklab.janus import Janus, SfuRoom
    async with Janus() as janus, SfuRoom(janus) as room:
        alice, bob, carol = [await room.join(n) for n in ("Alice", "Bob", "Carol")]
        await room.wait_everyone_hears()
        alice.hears()            # {'Bob': 550.0, 'Carol': 660.0}
        await alice.streams()    # Streams(upload=1, download=2)

Where Janus is not installed, ``Janus().start()`` raises :class:`JanusUnavailable`
(``talklab.janus.available()`` says so beforehand).
"""

from talklab.janus.client import Handle, JanusClient, JanusError, PluginError, Reply, Session
from talklab.janus.config import JanusSettings
from talklab.janus.loopback import (
    Socket,
    non_loopback_candidates,
    outside_loopback,
    process_sockets,
)
from talklab.janus.mcu import McuPerson, McuRoom
from talklab.janus.peer import JanusLink, LinkCounters
from talklab.janus.room import JANUS, Edge, Person, Room, Streams
from talklab.janus.server import Janus, JanusStartError, JanusUnavailable, available
from talklab.janus.sfu import SfuPerson, SfuRoom

__all__ = [
    "JANUS",
    "Edge",
    "Handle",
    "Janus",
    "JanusClient",
    "JanusError",
    "JanusLink",
    "JanusSettings",
    "JanusStartError",
    "JanusUnavailable",
    "LinkCounters",
    "McuPerson",
    "McuRoom",
    "Person",
    "PluginError",
    "Reply",
    "Room",
    "Session",
    "SfuPerson",
    "SfuRoom",
    "Socket",
    "Streams",
    "available",
    "non_loopback_candidates",
    "outside_loopback",
    "process_sockets",
]
