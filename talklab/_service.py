"""What talklab's three servers (signaling, STUN, TURN) share: a start/close lifecycle usable as
``async with``, and a console entry point that runs one until interrupted.

Tested in tests/test_server.py and tests/test_seed_client.py (talklab-server in a process of its
own, as a user runs it), tests/test_classroom.py (talklab-classroom prints what it exposes) and
every test that opens a server with ``async with``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any


class Service:
    """``async with`` support for a class with ``async start()`` and ``async close()``."""

    async def start(self) -> Any:  # pragma: no cover - every service defines it
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover
        raise NotImplementedError

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def serve_forever(service: Service, banner: Callable[[Any], str], name: str,
                  fast_loop: bool = False) -> None:
    """Start ``service``, print ``banner(service)``, run until Ctrl-C, close it. With
    ``fast_loop``, run on uvloop (libuv's event loop) when it is installed."""
    async def main() -> None:
        try:
            await service.start()
        except OSError as exc:
            print(f"{name}: cannot listen: {exc.strerror or exc}", file=sys.stderr)
            raise SystemExit(1) from None
        print(banner(service), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await service.close()

    loop_factory = None
    if fast_loop:
        try:
            import uvloop
            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    except KeyboardInterrupt:
        pass
