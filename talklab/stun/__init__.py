"""STUN, "the mirror": a packet dissector for learners and a Binding server with RFC 5780.

* :func:`dissect` — a STUN message byte by byte (sans-I/O);
* :func:`long_term_key` — the RFC 8489 long-term credential key;
* :func:`binding` — one real Binding request and its answer, as bytes; :func:`bindings` —
  several servers asked from one socket (a NAT's mapping behaviour, seen);
* :class:`StunServer` / :func:`binding_response` — the server and its socket-free core.
"""

from talklab.stun.client import Exchange, binding, bindings
from talklab.stun.dissect import Attribute, Dissection, dissect, long_term_key, saslprep
from talklab.stun.server import Endpoints, StunServer, binding_response

__all__ = [
           "Attribute",
           "Dissection",
           "Endpoints",
           "Exchange",
           "StunServer",
           "binding",
           "binding_response",
           "bindings",
           "dissect",
           "long_term_key",
           "saslprep",
]
