"""The simulated network: NATs that really translate and filter packets, on loopback, no root.

* :mod:`.behaviour` — mapping and filtering as tables (sans-I/O), the classic NAT types;
* :mod:`.network` — hosts, NAT boxes with real mapping sockets, the transport shim;
* :mod:`.discovery` — :func:`detect_nat`, RFC 5780's tests.
"""

from talklab.nat.behaviour import NAT_TYPES, Behaviour, NatTable, nat_type
from talklab.nat.discovery import NatReport, detect_nat
from talklab.nat.network import Conditions, Host, Nat, NatTransport

__all__ = ["NAT_TYPES", "Behaviour", "Conditions", "Host", "Nat", "NatReport", "NatTable",
           "NatTransport", "detect_nat", "nat_type"]
