"""TURN, "the relay": allocations, permissions and channels (sans-I/O) and their sockets.

* :mod:`.core` — :class:`TurnCore`, the protocol as a state machine;
* :mod:`.server` — :class:`TurnServer`, UDP and TCP listeners and relay sockets.
"""

from .core import Allocation, TurnCore
from .credentials import Credentials, rest_credentials
from .policy import PeerPolicy
from .server import TurnServer

__all__ = ["Allocation", "Credentials", "PeerPolicy", "TurnCore", "TurnServer",
           "rest_credentials"]
