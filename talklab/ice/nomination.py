"""Which candidate pair should carry the call? The controlling agent's choice, as a pure rule.

ICE checks pairs in priority order (RFC 8445, 6.1.4.2), but checks finish in whatever order the
network answers: a relayed pair can succeed before a direct one, because the direct one needs a
retransmission to punch through a NAT's filter. RFC 8445 leaves the *stopping criterion* to the
controlling agent (8.1.1): it lets checks run, then nominates one valid pair.

aioice nominates the first pair that succeeds ("aggressive nomination"), so with TURN configured
a call that could go direct may be relayed, and which one wins is a race. Browsers do not do
that: they move to the best working pair. talklab's rule (applied to aioice while a lab runs,
see :mod:`talklab._aiortc.nomination`) is:

    Nominate the highest-priority pair that has succeeded, as soon as every pair of higher
    priority has failed or has gone unanswered for ``patience`` seconds, and no more remote
    candidates are coming (a host-to-host pair does not wait for those: nothing can outrank it
    by type). In any case, nominate it ``wait`` seconds after the first success.

``patience`` (1 s) is two retransmission timeouts (aioice's RTO starts at 0.5 s): a check
whose first retransmission also went unanswered is not going to succeed in time to matter, as
with a host address behind someone else's NAT, which never answers. A check that needs a hole
punched through a NAT succeeds on its first retransmission, within about 0.5 s. So the seed's
"host > srflx > relay" is what ICE does, not just what the priorities say, and it costs about
a second only when a better pair cannot work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PENDING = ("FROZEN", "WAITING", "IN_PROGRESS")
DEFAULT_PATIENCE = 1.0
DEFAULT_WAIT = 3.0
HOST_TYPE_PREFERENCE = 126  # RFC 8445, 5.1.2.2 (aioice's value)


@dataclass(frozen=True)
class PairState:
    """What the rule needs to know of one candidate pair."""

    priority: int  # the pair priority (RFC 8445, 6.1.2.3), the same on both sides
    state: str  # FROZEN, WAITING, IN_PROGRESS, SUCCEEDED or FAILED
    in_flight: float | None = None  # s since its check was sent, while IN_PROGRESS


@dataclass(frozen=True)
class Decision:
    """Nominate ``pairs[nominate]`` now, or look again in ``look_again`` seconds (or when
    something changes: a check completes, a candidate arrives)."""

    nominate: int | None
    look_again: float | None = None


def choose(pairs: Sequence[PairState], *, candidates_pending: bool, waited: float | None,
           patience: float = DEFAULT_PATIENCE, wait: float = DEFAULT_WAIT) -> Decision:
    """The rule above. ``candidates_pending``: the remote side may still trickle candidates
    (no end-of-candidates yet). ``waited``: seconds since the first pair succeeded."""
    succeeded = [i for i, p in enumerate(pairs) if p.state == "SUCCEEDED"]
    if not succeeded or waited is None:
        return Decision(None)
    best = max(succeeded, key=lambda i: pairs[i].priority)
    if waited >= wait:
        return Decision(best)
    hopeful = [p for p in pairs if p.priority > pairs[best].priority and p.state in PENDING
               and not (p.in_flight is not None and p.in_flight >= patience)]
    waiting_for_candidates = candidates_pending and not host_to_host(pairs[best].priority)
    if not hopeful and not waiting_for_candidates:
        return Decision(best)
    # when the wait runs out, when a check in flight runs out of patience; a pair not checked
    # yet will be within a few ticks (20 ms each), so look again after one patience at most
    deadlines = [wait - waited] + [patience - (p.in_flight or 0.0) for p in hopeful]
    return Decision(None, look_again=max(0.0, min(deadlines)))


def host_to_host(pair_priority: int) -> bool:
    """Both candidates of a pair with this priority are host candidates: the lower of the two
    candidate priorities sits in the top 32 bits, and its type preference in their top 8."""
    return (pair_priority >> 32) >> 24 == HOST_TYPE_PREFERENCE
