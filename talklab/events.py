"""Who did what, when: the lab's event bus.

People, links and servers *publish* what happens (a join, a state change, the first audio
frame); views and notebooks *subscribe*. Nobody polls private fields, and views never drive the
protocol. Every event is also kept, bounded, in :attr:`EventBus.history`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from talklab.tasks import within

log = logging.getLogger("talklab.events")

T = TypeVar("T")


async def until(changed: asyncio.Event, condition: Callable[[], T | None],
                timeout: float | None = None) -> T:
    """Wait until ``condition()`` gives something other than None or False, and return it.

    ``condition`` is looked at now, then again each time ``changed`` is set (by whoever changed
    what it reads: a message arrived, a reading was taken, a round of heartbeats ran), never on
    a timer. ``timeout`` bounds the wait (:class:`TimeoutError`). The one event-driven wait of
    talklab and its server: their ``wait_until``, ``next`` and ``wait_readings`` are this."""
    async def loop() -> T:
        while (value := condition()) is None or value is False:
            changed.clear()
            await changed.wait()
        return value

    return await within(loop(), timeout)


@dataclass(frozen=True)
class Event:
    kind: str  # e.g. "voice-joined", "link-state", "first-audio"
    t: float  # time.monotonic()
    data: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


class EventBus:
    def __init__(self, history: int = 5000) -> None:
        self.history: deque[Event] = deque(maxlen=history)
        self._subscribers: list[Callable[[Event], None]] = []

    def publish(self, kind: str, **data: Any) -> Event:
        event = Event(kind, time.monotonic(), data)
        self.history.append(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken view must not break the room
                log.exception("an event subscriber failed on %s", kind)
        return event

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, looking again after every event (no polling;
        bound it with ``asyncio.wait_for``)."""
        changed = asyncio.Event()
        unsubscribe = self.subscribe(lambda _: changed.set())
        try:
            await until(changed, condition)
        finally:
            unsubscribe()
