"""A real Janus WebRTC server that talklab starts, on loopback only.

* :mod:`.server` — :class:`Janus`: the process, its generated configuration, its lifecycle;
* :mod:`.config` — what the configuration says, and why (secret, Origin, loopback, plugins);
* :mod:`.loopback` — the ``getifaddrs`` guard that keeps Janus on 127.0.0.0/8, and the
  checks that prove it (its sockets, its SDP);
* :mod:`.client` — the Janus API over HTTP: sessions, handles, messages, the long poll.
"""

from .client import Handle, JanusClient, JanusError, PluginError, Reply, Session
from .config import JanusSettings
from .loopback import Socket, non_loopback_candidates, outside_loopback, process_sockets
from .server import Janus, JanusStartError, JanusUnavailable, available

__all__ = ["Handle", "Janus", "JanusClient", "JanusError", "JanusSettings", "JanusStartError",
           "JanusUnavailable", "PluginError", "Reply", "Session", "Socket", "available",
           "non_loopback_candidates", "outside_loopback", "process_sockets"]
