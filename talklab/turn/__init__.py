"""TURN, "the relay": allocations, permissions and channels (sans-I/O) and their sockets.

* :mod:`.core` — :class:`TurnCore`, the protocol as a state machine;
* :mod:`.server` — :class:`TurnServer`, UDP and TCP listeners and relay sockets.
"""

from talklab.turn.core import Allocation, TurnCore
from talklab.turn.credentials import Credentials, rest_credentials
from talklab.turn.policy import PeerPolicy
from talklab.turn.server import TurnServer

__all__ = ["Allocation", "Credentials", "PeerPolicy", "TurnCore", "TurnServer",
           "rest_credentials"]
