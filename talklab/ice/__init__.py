"""Step 8 of the seed, ICE, made visible.

* :mod:`.trickle` — candidates taken out of the SDP and sent one by one, and received ones
  queued until the remote description is set;
* :mod:`.inspect` — the candidate pair ICE chose, read from a live connection.
"""

from .inspect import ice_connection, route_of, selected_pair
from .trickle import RemoteCandidates, candidate_from_json, candidate_to_json, split_candidates

__all__ = ["RemoteCandidates", "candidate_from_json", "candidate_to_json", "ice_connection",
           "route_of", "selected_pair", "split_candidates"]
