"""Adjustments 4 and 5: how long a check may go unanswered, and the history of every pair.

Every aioice ``Connection`` notes the lab settings it was made under (aiortc makes it when a
person's link adds its track or applies a description, inside that person's tasks), so its
checks follow its own lab's settings whichever task or callback runs them.

Tested in tests/test_aiortc_adjustments.py (a lab's retries, two labs at once each with its own,
a transaction outside any lab left as aioice's) and tests/test_exercises_05.py (every pair's
history, read through talklab.ice.inspect.pairs).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn

from talklab._aiortc.registry import HOST, SETTINGS, patch, settings_of, stock
from talklab.tasks import within


@patch(aioice.ice.Connection, "__init__")
def connection_init(self: aioice.ice.Connection, *args: Any, **kwargs: Any) -> None:
    stock(aioice.ice.Connection, "__init__")(self, *args, **kwargs)
    self._talklab_settings = SETTINGS.get()  # type: ignore[attr-defined]
    self._talklab_host = HOST.get()  # type: ignore[attr-defined]
    # (the host it was made for: it gathers there, whoever asks it to: see gathering.py)


@patch(aioice.stun.Transaction, "__init__")
def transaction_init(self: aioice.stun.Transaction, request: aioice.stun.Message,
                     addr: tuple[str, int], protocol: Any, retransmissions: int | None = None,
                     **kwargs: Any) -> None:
    """4. A lab's STUN transactions (checks, and its TURN client's requests) retransmit
    ``check_retries`` times. aioice's consent checks (RFC 7675, every ~5 s once a call is up)
    ask for none: one 0.5 s wait, and six misses in a row end the call. With a room of eight
    or ten in one busy process, the loop lags enough to miss six in a row and every call
    closed itself (measured); a lab's consent checks retransmit ``consent_retries`` times."""
    settings = settings_of(getattr(protocol, "receiver", None))
    if settings is not None:
        if retransmissions is None:
            retransmissions = settings.check_retries
        elif retransmissions == 0:  # (aioice asks for 0 for consent checks only)
            retransmissions = settings.consent_retries
    stock(aioice.stun.Transaction, "__init__")(self, request, addr, protocol,
                                               retransmissions=retransmissions, **kwargs)


DELETE_TIMEOUT = 2.0  # s a closing call waits for its TURN allocation to be deleted


@patch(aioice.turn.TurnClientMixin, "delete")
async def turn_delete(self: Any) -> None:
    """4. Deleting a TURN allocation waits at most :data:`DELETE_TIMEOUT` (the module docstring
    of :mod:`talklab._aiortc` says why); a TURN server that answers is done in milliseconds."""
    with contextlib.suppress(TimeoutError):
        await within(stock(aioice.turn.TurnClientMixin, "delete")(self), DELETE_TIMEOUT)


@patch(aioice.ice.Connection, "check_state")
def check_state(self: aioice.ice.Connection, pair: aioice.ice.CandidatePair,
                state: aioice.ice.CandidatePair.State) -> None:
    """5. Note each state change of a lab's pairs, with its time."""
    if settings_of(self) is not None:
        record_check_state(pair, state)
    stock(aioice.ice.Connection, "check_state")(self, pair, state)


def record_check_state(pair: Any, state: Any) -> None:
    """Keep a pair's state changes with their times (``pair.talklab_history``)."""
    history = getattr(pair, "talklab_history", None)
    if history is None:
        history = pair.talklab_history = []
    history.append((time.monotonic(), state.name))
