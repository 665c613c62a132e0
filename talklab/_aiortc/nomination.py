"""Adjustment 6: the controlling agent nominates the best pair that works, not the first.

aioice 0.13 sends every check of the controlling agent with USE-CANDIDATE ("aggressive
nomination"), so the first pair to succeed is the one used, and with TURN configured a relayed
pair often wins the race against a direct one that needs a retransmission to cross a NAT. For a
lab's connections with ``Settings.nomination == "best"`` this module makes the controlling
agent check without USE-CANDIDATE, then nominate (RFC 8445, 8.1.1, regular nomination: one more
check, with USE-CANDIDATE, on the chosen pair) the pair :func:`talklab.ice.nomination.choose`
picks. The controlled agent is aioice's own: it nominates whatever pair it is told to.

aioice's ``Connection.check_start`` runs every check, unchanged. It builds each request with
``build_request(pair, nominate=True)``, which for such a connection leaves USE-CANDIDATE out;
when the check succeeds it marks the pair nominated (it believes it asked) and hands it to
``check_complete``, which for such a connection takes the mark off again unless talklab's own
nomination (or the other side) made it: so only the chosen pair is ever selected.

What the rule needs is re-evaluated whenever a check completes, when end-of-candidates arrives,
and when the wait since the first success runs out (a timer).

Tested in tests/test_aiortc_internals.py (a lab's checks carry no USE-CANDIDATE and its
nomination does, between two real aioice agents) and tests/test_ice_nomination.py (with TURN
configured, the pair that works directly wins, live).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import aioice.ice
import aioice.stun
from aioice.ice import CandidatePair, Connection

from talklab._aiortc.registry import patch, settings_of, stock
from talklab.ice.nomination import PairState, choose

State = CandidatePair.State
log = logging.getLogger("talklab.ice")


class _Nominator:
    """Per connection: when the first pair succeeded, the timer, the nomination under way, and
    the pair talklab nominated."""

    def __init__(self) -> None:
        self.first_success: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.chosen: CandidatePair | None = None

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_nominators: weakref.WeakKeyDictionary[Connection, _Nominator] = weakref.WeakKeyDictionary()


def _managed(connection: Connection) -> bool:
    settings = settings_of(connection)
    return (settings is not None and settings.nomination == "best"
            and connection.ice_controlling and not connection.remote_is_lite)


def _nominator(connection: Connection) -> _Nominator:
    found = _nominators.get(connection)
    if found is None:
        found = _nominators[connection] = _Nominator()
    return found


def _priority(connection: Connection, pair: CandidatePair) -> int:
    return aioice.ice.candidate_pair_priority(pair.local_candidate, pair.remote_candidate,
                                              connection.ice_controlling)


@patch(aioice.ice.Connection, "build_request")
def build_request(self: Connection, pair: CandidatePair, nominate: bool) -> aioice.stun.Message:
    """A check of the controlling agent, without USE-CANDIDATE (RFC 8445, 7.2.4 and 8.1.1).
    (talklab's own nomination builds its request with aioice's own: :func:`_nominate`.)"""
    return stock(aioice.ice.Connection, "build_request")(
        self, pair, nominate=nominate and not _managed(self))


@patch(aioice.ice.Connection, "check_complete")
def check_complete(self: Connection, pair: CandidatePair) -> None:
    if _managed(self):
        nominator = _nominators.get(self)
        if (pair.nominated and not pair.remote_nominated
                and (nominator is None or pair is not nominator.chosen)):
            pair.nominated = False  # (check_start marked it: its check carried no USE-CANDIDATE)
    stock(aioice.ice.Connection, "check_complete")(self, pair)
    if _managed(self):
        consider(self)


@patch(aioice.ice.Connection, "_end_remote_candidates")
def end_remote_candidates(self: Connection) -> None:
    stock(aioice.ice.Connection, "_end_remote_candidates")(self)
    if _managed(self):
        consider(self)


@patch(aioice.ice.Connection, "_check_list_maybe_fail")
def check_list_maybe_fail(self: Connection) -> None:
    """A controlling agent with a pair that succeeded has not failed: it is about to nominate."""
    if _managed(self):
        nominator = _nominators.get(self)
        if (nominator is not None and nominator.task is not None) or any(
                p.state == State.SUCCEEDED for p in self._check_list):
            return
    stock(aioice.ice.Connection, "_check_list_maybe_fail")(self)


@patch(aioice.ice.Connection, "close")
async def close(self: Connection) -> None:
    nominator = _nominators.pop(self, None)
    if nominator is not None:
        nominator.stop()
        if nominator.task is not None:
            nominator.task.cancel()
    await stock(aioice.ice.Connection, "close")(self)


def consider(connection: Connection) -> None:
    """Nominate now if the rule says so; otherwise look again when it says to."""
    nominator = _nominator(connection)
    if connection._check_list_done or connection._nominated or nominator.task is not None:
        return
    settings = settings_of(connection)
    assert settings is not None
    pairs = list(connection._check_list)
    loop = asyncio.get_running_loop()
    now = loop.time()
    if nominator.first_success is None and any(p.state == State.SUCCEEDED for p in pairs):
        nominator.first_success = now  # (check_complete follows each success at once)
    waited = None if nominator.first_success is None else now - nominator.first_success
    decision = choose([PairState(_priority(connection, p), p.state.name, _in_flight(p))
                       for p in pairs],
                      candidates_pending=connection._remote_candidates_expected(),
                      waited=waited, patience=settings.nomination_patience,
                      wait=settings.nomination_wait)
    nominator.stop()
    if decision.nominate is None:
        if decision.look_again is not None:
            nominator.timer = loop.call_later(decision.look_again + 0.001, _timer_fired,
                                              connection)
        return
    nominator.task = asyncio.ensure_future(_nominate(connection, pairs[decision.nominate]))
    nominator.task.add_done_callback(_report)


def _in_flight(pair: CandidatePair) -> float | None:
    """Seconds since the pair's check was sent, while it is in progress (from its history,
    which the check-history adjustment keeps in time.monotonic(), as the loop's clock)."""
    history = getattr(pair, "talklab_history", None)
    if pair.state != State.IN_PROGRESS or not history:
        return None
    started = next((t for t, state in reversed(history) if state == "IN_PROGRESS"), None)
    return None if started is None else time.monotonic() - started


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("nominating a candidate pair failed", exc_info=task.exception())


def _timer_fired(connection: Connection) -> None:
    nominator = _nominators.get(connection)
    if nominator is not None:
        nominator.timer = None
        consider(connection)


async def _nominate(connection: Connection, pair: CandidatePair) -> None:
    """Regular nomination: a check with USE-CANDIDATE on the chosen pair (RFC 8445, 8.1.1)."""
    nominator = _nominator(connection)
    assert connection.remote_password is not None
    request = stock(aioice.ice.Connection, "build_request")(connection, pair, nominate=True)
    try:
        await pair.protocol.request(request, pair.remote_addr,
                                    integrity_key=connection.remote_password.encode())
    except aioice.stun.TransactionError:
        nominator.task = None
        connection.check_state(pair, State.FAILED)  # it stopped working: the next best, then
        connection.check_complete(pair)
        return
    nominator.task = None
    nominator.chosen = pair
    pair.nominated = True
    connection.check_complete(pair)  # aioice: selected, waiting pairs pruned, ICE completed


def nominator_state(connection: Any) -> dict[str, Any]:
    """For tests and views: when the first pair succeeded, and whether a nomination runs."""
    nominator = _nominators.get(connection)
    if nominator is None:
        return {"first_success": None, "nominating": False}
    return {"first_success": nominator.first_success, "nominating": nominator.task is not None}
