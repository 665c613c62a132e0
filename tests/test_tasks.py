"""Stopping a task without swallowing the waiter's own cancellation (talklab/tasks.py): the
trap that made Interrupt Kernel do nothing in a cell that replaced a person (issue 22's second
learner trial)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import pathlib

import pytest

from talklab.tasks import cancel_and_wait, within


async def slow_to_stop(stopping: asyncio.Event) -> None:
    """A task that takes a moment to end once cancelled (as a connection closing does)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        stopping.set()
        await asyncio.sleep(0.2)
        raise


async def test_a_stopped_task_ends_quietly():
    stopping = asyncio.Event()
    task = asyncio.ensure_future(slow_to_stop(stopping))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and stopping.is_set()
    await cancel_and_wait(task)  # (again: nothing to do)
    await cancel_and_wait(None)


async def test_the_waiters_own_cancellation_is_raised_not_swallowed():
    stopping = asyncio.Event()
    child = asyncio.ensure_future(slow_to_stop(stopping))
    await asyncio.sleep(0)
    went_on = []

    async def cell() -> None:  # an interrupted cell: cancelled while it stops its child
        await cancel_and_wait(child)
        went_on.append("the cell went on")

    waiter = asyncio.ensure_future(cell())
    await stopping.wait()
    waiter.cancel()  # (what Interrupt Kernel does to an async cell)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert went_on == []
    with contextlib.suppress(asyncio.CancelledError):
        await child


async def test_clean_up_after_a_cancellation_still_finishes():
    """A task cancelled already, closing what it made before it re-raises: stopping its
    children is not cut short (no new cancellation came while it waited)."""
    stopping = asyncio.Event()
    child = asyncio.ensure_future(slow_to_stop(stopping))
    cleaned = []

    async def join() -> None:
        try:
            await asyncio.Event().wait()
        except BaseException:
            await cancel_and_wait(child)
            cleaned.append("closed")
            raise

    task = asyncio.ensure_future(join())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["closed"] and child.cancelled()


async def test_the_usual_way_swallows_it():
    """Why the module exists: suppress(CancelledError) around the await loses the waiter's."""
    stopping = asyncio.Event()
    child = asyncio.ensure_future(slow_to_stop(stopping))
    await asyncio.sleep(0)

    async def cell() -> str:
        child.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await child
        return "the cell went on"

    waiter = asyncio.ensure_future(cell())
    await stopping.wait()
    waiter.cancel()
    assert await waiter == "the cell went on"


async def test_only_the_exceptions_named_quiet_end_there():
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    await cancel_and_wait(task, ValueError)
    task = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError):
        await cancel_and_wait(task)


async def test_a_wait_cancelled_as_its_answer_comes_is_cancelled():
    """The cell awaited the room; the room got there in the same turn of the loop as the
    interrupt: the interrupt wins (asyncio.wait_for of Python 3.11 returned the answer)."""
    answer = asyncio.get_running_loop().create_future()

    async def cell() -> str:
        return await within(answer, 5)

    waiter = asyncio.ensure_future(cell())
    await asyncio.sleep(0)
    answer.set_result("the room is connected")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_within_bounds_and_answers():
    assert await within(asyncio.sleep(0, "yes"), 1) == "yes"
    assert await within(asyncio.sleep(0, "yes"), None) == "yes"
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.05)


def test_no_module_suppresses_a_cancellation_around_an_await():
    """``with suppress(CancelledError): await ...`` swallows an interrupt (see talklab/tasks.py):
    no module of talklab or its server writes it."""
    root = pathlib.Path(__file__).parent.parent
    found = []
    for path in sorted([*(root / "talklab").rglob("*.py"), *(root / "server").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and "suppress" in ast.unparse(call.func) and \
                            "CancelledError" in ast.unparse(call) and \
                            any(isinstance(n, ast.Await) for n in ast.walk(node)):
                        found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, found


def test_no_module_waits_with_asyncio_wait_for():
    """talklab waits with talklab.tasks.within (see its docstring), never asyncio.wait_for."""
    root = pathlib.Path(__file__).parent.parent / "talklab"
    found = [str(p) for p in sorted(root.rglob("*.py"))
             if "server" not in p.relative_to(root).parts[:1]
             and "asyncio.wait_for(" in p.read_text()]
    assert not found, found
