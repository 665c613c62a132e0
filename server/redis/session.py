"""One signaling server's session with Redis: who it is, where Redis is, and how to reach it.

Every piece of the Redis store (:mod:`.channels`, :mod:`.liveness`, :mod:`.rebuild` and the
store itself, :mod:`.store`) talks to the same Redis as the same server. What they share is
this, and only this: the URL's options, this server's id, the key names, the two command
connections (one for commands that want an answer, one for PUBLISH: :mod:`.wire`), the data
set's *epoch* as this server knows it (:mod:`.scripts`, "Redis restarted empty"), and Redis's
clock, for the deadline every change carries. The store makes the session and is the only one
to change its epoch; the pieces read it.

Tested in tests/test_redis_wire.py (Liveness driven through a Session, without a store; a batch's
deadline, the URL's timeout less a margin on Redis's clock).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from .scripts import PREFIX, SCRIPTS, Keys
from .url import RedisOptions
from .wire import Client


class Session:
    """This server's id, its keys and its command connections to one Redis database.

    ``on_recovered`` is called when a command connection opens again after one failed
    (announcements published meanwhile may have been lost).
    """

    def __init__(self, options: RedisOptions, prefix: str = PREFIX,
                 on_recovered: Callable[[], None] | None = None) -> None:
        self.options = options
        self.server_id = uuid.uuid4().hex[:12]
        self.keys = Keys(prefix, options.db)
        # Commands that want an answer, and PUBLISH, which does not: on connections of their
        # own, so that a relay forwarded to another server never waits in Redis behind a long
        # batch of changes (Redis runs one connection's commands in order).
        self.client = Client(options, SCRIPTS)
        self.publisher = Client(options)
        self.client.on_recovered = self.publisher.on_recovered = on_recovered
        self.epoch = ""  # the data set's, as this server knows it (see scripts: REREGISTER)
        self._offset_ms = 0.0  # Redis's clock minus ours

    async def measure_clock(self) -> None:
        """Read Redis's clock (``TIME``), for :meth:`deadline`."""
        before = time.time()
        seconds, micros = await self.client.execute("TIME")
        after = time.time()
        self._offset_ms = int(seconds) * 1000 + int(micros) / 1000 - (before + after) * 500

    def deadline(self) -> int:
        """When a batch sent now stops being worth running, in ms on Redis's clock: a little
        before the client gives up on it (see :mod:`.scripts`)."""
        timeout = self.options.socket_timeout
        return int((time.time() + timeout - min(timeout / 4, 0.5)) * 1000 + self._offset_ms)

    async def close(self) -> None:
        """Close both command connections (what was sent is answered first)."""
        await self.publisher.close()
        await self.client.close()
