"""The answer key of notebook 06 · TURN and NATs.

Exercise: ``allows`` (a NAT filtering rule, applied to real packets by ``check.allows``).
The predictions and self-checks are answered in PREDICTIONS and SELF_CHECKS below.
"""


def allows(sent_to: frozenset[tuple[str, int]], remote: tuple[str, int]) -> bool:
    """Address-dependent filtering (the "restricted" NAT, RFC 4787 5): let a packet in when
    the host has sent to its IP, from whatever port it comes."""
    return any(ip == remote[0] for ip, _port in sent_to)


PREDICTIONS = {
    # symmetric x port-restricted with STUN only: the symmetric side's checks come from
    # ports the port-restricted filter has never sent to, and its own srflx port is useless
    "symmetric_port_restricted_connects": False,
    # full-cone x full-cone once TURN is configured: a direct pair works, so ICE keeps it
    "full_cone_route_with_turn": "srflx",
}

SELF_CHECKS = {
    "check.turn_bytes(payload=160, channel=True)": 164,
    "check.turn_bytes(payload=160, channel=False)": 196,
}
