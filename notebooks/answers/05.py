"""The answer key of notebook 05 · ICE candidates and priority.

Exercise: ``priority`` (checked live against aioice by ``check.priority``).
The predictions and self-checks are answered in PREDICTIONS and SELF_CHECKS below.
"""


def priority(type_preference: int, local_preference: int, component: int) -> int:
    """RFC 8445, 5.1.2.1: the type preference in the top 8 bits, the local preference in the
    next 16, and 256 minus the component id in the last 8."""
    return 2**24 * type_preference + 2**8 * local_preference + (256 - component)


PREDICTIONS = {
    # both behind NATs of their own, STUN and TURN running: host pairs cannot work, and ICE
    # takes the best pair that does: through the NATs, with the addresses STUN found
    "route_chosen": "srflx",
    # (Alice's relay, Bob's host) against (Alice's host, Bob's srflx): a pair rests on its worse
    # candidate (2^32 × min), relay's type preference 0 against srflx's 100: lower
    "relay_host_vs_host_srflx": "lower",
}

SELF_CHECKS = {
    # component 2 (RTCP): 256 − 2 in the last 8 bits
    "check.candidate_priority('srflx', component=2)": 100 * 2**24 + 65535 * 2**8 + 254,
    "check.pair_rests_on()": "worse",
}
