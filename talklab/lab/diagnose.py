"""Why does a link not connect? A plain-language diagnosis from plain facts (no I/O).

When :meth:`talklab.Lab.wait_connected` gives up, it names every link that did not carry audio
and says what would fix it, from what the lab knows of the two people: their NATs, whether they
use relays only, which of STUN and TURN the lab runs, and the link's state. The reasoning is
that of the seed's *When STUN Isn't Enough* and notebook 06's NAT × NAT matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HARD = ("symmetric", "port-restricted")  # a symmetric NAT defeats these filters (and itself)


@dataclass(frozen=True)
class End:
    """One end of a link, as the lab knows it."""

    name: str
    nat: str  # "none", a NAT type, or "udp-blocked"
    lan: object = None  # people behind the same NAT box share one
    relay_only: bool = False


CLASS_TURN = ("the teacher's classroom has none: ask the teacher to start it with TURN "
              "(talklab.Classroom() has TURN unless turn=False)")


def advice(a: End, b: End, *, stun: bool, turn: bool, state: str | None,
           remote: bool = False, error: str | None = None, failure: str | None = None) -> str:
    """One line: ``"Alice–Bob: <what is wrong>; <what would fix it>"``. ``remote``: the lab
    uses a teacher's servers, so the fix is the teacher's, not a lab option. ``error``: what
    stopped ``a``'s side of the call, when a step of it raised; ``failure``: why the call
    failed, when one of its ends knows (a refused certificate)."""
    pair = f"{a.name}–{b.name}"
    add_turn = CLASS_TURN if remote else "start the lab with turn=True"
    if error:
        return f"{pair}: {a.name}'s side of the call stopped at an error: {error}"
    if failure:
        return f"{pair}: {failure}"
    if state is None:
        return (f"{pair}: no connection was made (are both in voice in the same room, and "
                f"connected to the signaling server?)")
    for end in (a, b):
        if end.relay_only and not turn:
            return (f"{pair}: {end.name} uses relays only (relay_only=True) but there is no "
                    f"TURN server; {add_turn}")
        if end.nat == "udp-blocked" and not turn:
            return (f"{pair}: {end.name}'s firewall lets no UDP out, only TURN over TCP gets "
                    f"through; {add_turn}")
    same_lan = a.lan is not None and a.lan is b.lan
    natted = [e for e in (a, b) if e.nat != "none"]
    if not same_lan and len(natted) == 2 and not stun and not turn:
        return (f"{pair}: both are behind NATs and nobody tells them their public addresses; "
                f"start the lab with stun=True (and turn=True for the hard cases)")
    kinds = {a.nat, b.nat}
    if not same_lan and "symmetric" in kinds and kinds <= set(HARD) and not turn:
        return (f"{pair}: behind {a.nat} and {b.nat} NATs, which STUN alone cannot cross (a "
                f"symmetric NAT gives every destination a new port); add TURN: turn=True")
    if state in ("new", "connecting", "checking"):
        return f"{pair}: still connecting ({state}); give it more time, or look at its pairs"
    return (f"{pair}: {state}; look at the link's candidate pairs "
            f"(talklab.views.pairs_table(link)) to see which checks failed")


def why_not_connected(people: Iterable[Any], missing: Iterable[tuple[Any, str, str | None]],
                      when: str, *, stun: bool, turn: bool, remote: bool = False) -> str:
    """What :meth:`talklab.Lab.wait_connected` says when it gives up: one line of
    :func:`advice` per pair of a mesh's people whose call did not carry audio. ``missing``:
    ``(person, the other's socket id, the call's connection state, or None when no connection
    was made)`` for each such call (:func:`talklab.lab.mesh.calls_missing` finds them)."""
    by_sid = {p.sid: p for p in people}
    lines, seen = [], set()
    for p, sid, state in missing:
        other = by_sid.get(sid)
        # (someone of another lab, a classmate's kernel: known by the name the server gave)
        name = other.name if other else p.members.get(sid, sid)
        names = frozenset((p.name, name))
        if names in seen:
            continue
        seen.add(names)
        link = p.links.get(sid)
        back = other.links.get(p.sid) if other else None  # the same call, from its other end
        # the end that refused the other's certificate names the cause, the other its effect
        ends = sorted((end for end in (link, back) if end is not None),
                      key=lambda end: not getattr(end, "refused", False))
        failures = [f for end in ends if (f := getattr(end, "failure", None))]
        lines.append(advice(_end(p), _end(other) if other else End(name, "none"),
                            stun=stun, turn=turn, remote=remote, state=state,
                            error=getattr(link, "error", None),
                            failure=failures[0] if failures else None))
    return f"not every link carried audio {when}:\n  " + "\n  ".join(
        lines or ["(no link is missing any more: it connected as the time ran out)"])


def _end(person: Any) -> End:
    return End(person.name, person.nat, person.host.nat, person.relay_only)
