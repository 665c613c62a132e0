"""Notebook 10, several signaling servers: the teacher's answer key."""

import zlib

PREDICTIONS = {
    "ben_gets_it": True,  # Ann's offer crosses from server one to server two through Redis
    "seats_over_two": 6,  # the seat check-and-mark is one Lua script in Redis: still six
}

# Self-check: check.calls_across(people=6, servers=2, answer=9)   # 15 calls, 3 + 3 stay


def server_for(request, servers):
    """Route by room, with a hash every load balancer computes the same way (Python's own
    hash() of a str changes from one process to the next)."""
    return zlib.crc32(request["room"].encode()) % servers
