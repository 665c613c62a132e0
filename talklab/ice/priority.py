"""ICE priorities, the maths of the seed's "host > srflx > relay" (RFC 8445, 5.1.2 and 6.1.2.3).

A candidate's priority packs three preferences into 32 bits:

    priority = 2^24 x type preference + 2^8 x local preference + (256 - component id)

with type preferences (RFC 8445, 5.1.2.2; aioice's values) host 126, peer-reflexive 110,
server-reflexive 100, relay 0. A pair's priority combines the controlling agent's candidate G
and the controlled agent's D so both sides order the check list the same way:

    pair priority = 2^32 x min(G, D) + 2 x max(G, D) + (1 if G > D else 0)

Tested in tests/test_network_lab.py (the formulas, worked out: test_priority_formulas) and
tests/test_exercises_05.py (notebook 05's exercise, judged against them).
"""

from __future__ import annotations

TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}
DEFAULT_LOCAL_PREFERENCE = 65535


def candidate_priority(type: str, component: int = 1,
                       local_preference: int = DEFAULT_LOCAL_PREFERENCE) -> int:
    """RFC 8445 5.1.2.1: the priority of a candidate of ``type`` for ``component``."""
    if type not in TYPE_PREFERENCE:
        raise ValueError(f"unknown candidate type {type!r}; one of {sorted(TYPE_PREFERENCE)}")
    if not 0 <= local_preference <= 65535 or not 1 <= component <= 256:
        raise ValueError("local preference is 0..65535 and component 1..256")
    return (TYPE_PREFERENCE[type] << 24) + (local_preference << 8) + (256 - component)


def breakdown(priority: int) -> dict:
    """A priority taken apart again: its type preference, local preference and component."""
    type_pref = priority >> 24
    return {"type_preference": type_pref,
            "type": next((t for t, p in TYPE_PREFERENCE.items() if p == type_pref), "?"),
            "local_preference": (priority >> 8) & 0xFFFF,
            "component": 256 - (priority & 0xFF)}


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 8445 6.1.2.3: the priority of a pair (G = controlling's, D = controlled's)."""
    g, d = controlling, controlled
    return (1 << 32) * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)
