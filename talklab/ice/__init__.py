"""Step 8 of the seed, ICE, made visible.

* :mod:`.trickle` — candidates taken out of the SDP and sent one by one, and received ones
  queued until the remote description is set;
* :mod:`.priority` — RFC 8445's priority formulas, as pure functions;
* :mod:`.inspect` — candidates, pairs and the pair ICE chose, read from a live connection.
"""

from talklab.ice.inspect import candidates, ice_connection, pairs, route_of, selected_pair
from talklab.ice.priority import TYPE_PREFERENCE, breakdown, candidate_priority, pair_priority
from talklab.ice.trickle import (
           RemoteCandidates,
           candidate_from_json,
           candidate_to_json,
           split_candidates,
)

__all__ = [
           "TYPE_PREFERENCE",
           "RemoteCandidates",
           "breakdown",
           "candidate_from_json",
           "candidate_priority",
           "candidate_to_json",
           "candidates",
           "ice_connection",
           "pair_priority",
           "pairs",
           "route_of",
           "selected_pair",
           "split_candidates",
]
