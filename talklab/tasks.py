"""Stopping a task, and bounding a wait, without swallowing a cancellation of one's own.

The usual way to stop a task, ``task.cancel()`` then ``with suppress(CancelledError): await
task``, has a trap: if the task that waits is itself cancelled meanwhile (a learner's
Interrupt Kernel cancels the cell's task: ipykernel turns SIGINT into a cancellation of an
async cell), the CancelledError it receives is suppressed too, and the interrupted cell goes on
as if nothing happened. :func:`cancel_and_wait` tells the two apart with
:meth:`asyncio.Task.cancelling` (Python 3.11): a cancellation asked of the waiter while it
waits is raised; the stopped task's own ends quietly. Counted from when it starts waiting, so
that clean-up already running because the waiter was cancelled (``except BaseException: await
close(); raise``) still finishes. :func:`within` bounds a wait as :func:`asyncio.wait_for`
does, without that function's own form of the same trap in Python 3.11 (its docstring).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Future | None, *quiet: type[BaseException]) -> None:
    """Cancel ``task`` and wait until it has ended. Its CancelledError (and the exceptions in
    ``quiet``) end here; a cancellation of the task that waits is raised."""
    if task is None:
        return
    current = asyncio.current_task()
    asked = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > asked:
            raise
    except quiet:
        pass



async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await awaitable``, bounded by ``timeout`` s (:class:`TimeoutError`; None: unbounded):
    :func:`asyncio.wait_for` without its trap in Python 3.11. There, a waiter cancelled just as
    what it awaits finishes returns the result and forgets the cancellation (CPython
    gh-86296, fixed in 3.12): a learner's interrupt of a cell that waits for the room, landing
    as the room got there, did nothing. :func:`asyncio.timeout` counts cancellations and
    raises the waiter's."""
    async with asyncio.timeout(timeout):
        return await awaitable
