"""The lab's event bus and the one event-driven wait (``talklab/events.py``): no sockets, no
timers; a wait looks again only when it is told something changed."""

from __future__ import annotations

import asyncio

import pytest

from talklab.events import EventBus, until


async def settle() -> None:
    """Let every task that can run, run (the wait sits in a task of asyncio.wait_for's)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_until_returns_what_the_condition_gave_once_it_holds():
    changed, box = asyncio.Event(), []
    looked = 0

    def condition():
        nonlocal looked
        looked += 1
        return box[0] if box else None

    waiting = asyncio.create_task(until(changed, condition, timeout=5))
    await settle()
    assert not waiting.done() and looked == 1
    changed.set()  # told, but nothing it reads changed: it looks once more and waits on
    await settle()
    assert not waiting.done() and looked == 2
    box.append({"room": "ABCD12"})
    changed.set()
    assert await waiting == {"room": "ABCD12"}
    assert looked == 3  # never on a timer: once at the start, once per change


async def test_until_takes_falsy_values_but_not_none_or_false():
    assert await until(asyncio.Event(), lambda: 0, timeout=1) == 0
    assert await until(asyncio.Event(), lambda: (None,), timeout=1) == (None,)


async def test_until_gives_up_after_its_timeout():
    with pytest.raises(TimeoutError):
        await until(asyncio.Event(), lambda: False, timeout=0.05)


async def test_the_bus_wakes_a_wait_on_every_event_and_keeps_history():
    bus, seen = EventBus(history=3), []
    waiting = asyncio.create_task(bus.until(lambda: len(bus.history) >= 2))
    unsubscribe = bus.subscribe(seen.append)
    bus.publish("voice-joined", name="Dave")
    await settle()
    assert not waiting.done()
    bus.publish("link-state", state="connected")
    await asyncio.wait_for(waiting, 1)
    unsubscribe()
    for n in range(5):
        bus.publish("first-audio", n=n)
    assert [e.kind for e in seen] == ["voice-joined", "link-state"]
    assert len(bus.history) == 3 and bus.history[-1]["n"] == 4


def test_a_broken_subscriber_does_not_stop_the_others(caplog):
    bus, seen = EventBus(), []
    bus.subscribe(lambda e: 1 / 0)
    bus.subscribe(seen.append)
    bus.publish("voice-left", name="Bob")
    assert [e["name"] for e in seen] == ["Bob"]
    assert "an event subscriber failed on voice-left" in caplog.text
