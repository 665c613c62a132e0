"""The network lab: real hosts and real Linux NATs, in network namespaces (root only).

Where :mod:`talklab.nat` simulates NATs in user space on loopback, this package builds a small
network of Linux network namespaces joined by veth pairs and bridges, with nftables doing the
NAT, and runs Python processes (agents) on its hosts. Packets cross real kernel routing and
real netfilter, and nothing leaves the machine: every address is from the documentation ranges
(RFC 5737), and no namespace has a way to the machine's own interfaces.

One concept per module:

* :mod:`.topology` — the network as plain data (segments, NATs, hosts) and :class:`Design`;
* :mod:`.nftables` — the NAT kinds netfilter can produce, as rule sets, and what it really does;
* :mod:`.plan` — the ``ip``/``nft`` commands that build a network, and the run's names;
* :mod:`.shell` — running those commands; what exists; leftovers of killed runs;
* :mod:`.lab` — :class:`NetLab`: build, agents, teardown whatever happens;
* :mod:`.protocol`, :mod:`.agent`, :mod:`.agents` — a Python process per host, in JSON lines;
* :mod:`.pairing` — one ICE negotiation, the same code on real and simulated hosts;
* :mod:`.simulated` and :mod:`.compare` — the simulator against the real thing
  (``python -m talklab.netlab.compare``).
"""

from talklab.netlab.namespaces import NetLab
from talklab.netlab.nftables import KINDS, NatKind
from talklab.netlab.shell import not_permitted
from talklab.netlab.topology import Design, Host, Nat, Network, Segment, TopologyError

__all__ = ["KINDS", "Design", "Host", "Nat", "NatKind", "NetLab", "Network", "Segment",
           "TopologyError", "not_permitted"]
