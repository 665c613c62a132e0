"""A redis-server of the lab's own, on loopback, for several signaling servers to share rooms.

Several signaling servers behind a load balancer share one set of rooms through Redis
(:mod:`talklab.server.redis`). :class:`RedisServer` starts Debian's ``redis-server`` on a free
loopback port, keeping nothing on disk (no snapshot, no append-only file, a temporary
folder), waits until it says it accepts connections, and stops it again. Where
``redis-server`` is not installed (Binder, without an ``apt.txt`` line for it),
:class:`RedisUnavailable` says so, so a notebook section can skip cleanly.

In a notebook, ``redis = await RedisServer()`` closes the one the previous ``await
RedisServer()`` started, like :class:`talklab.Lab`.

Tested in tests/test_exercises_10.py (check.server_for runs its two signaling servers on a
RedisServer of its own) and tests/test_interrupt.py (a notebook's Redis goes with its kernel,
interrupted or killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Generator
from typing import Any, ClassVar

from talklab._service import Service
from talklab.notebook import made_by
from talklab.tasks import within


class RedisUnavailable(RuntimeError):
    """``redis-server`` is not installed here."""


class RedisServer(Service):
    """``redis-server`` on ``127.0.0.1`` and a free port, for as long as the lab needs it."""

    current: ClassVar[RedisServer | None] = None

    def __init__(self, start_timeout: float = 10.0) -> None:
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.servers: list[Any] = []  # signaling servers sharing it: closed with it
        self.made_by = made_by()  # in a notebook, the cells that made and closed it
        self.closed_by: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._drainer: asyncio.Future[None] | None = None

    def url(self, db: int = 0) -> str:
        """The ``redis://`` URL of database ``db`` (0 to 15)."""
        if self.port is None:
            raise RuntimeError("Redis is not running: await RedisServer() starts it")
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The redis-server process, while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    async def start(self) -> RedisServer:
        if self.running:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("redis-server is not installed here (Debian: apt-get "
                                   "install redis-server); this part needs it")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._folder = tempfile.TemporaryDirectory(prefix="talklab-redis-")
        # Its own process group: Interrupt Kernel signals the kernel's whole group, and
        # redis-server takes SIGINT as "shut down". So that a kernel that dies without closing
        # it leaves no Redis behind, it asks for SIGTERM when the kernel ends (setpriv).
        self._process = await asyncio.create_subprocess_exec(
            *_tied_to_this_process(), binary, "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self._folder.name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, process_group=0)
        try:
            await within(self._ready(), self.start_timeout)
        except BaseException:
            await self.close()
            raise
        self.port = port
        return self

    async def _ready(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            if b"Ready to accept connections" in line:
                self._drainer = asyncio.ensure_future(self._drain(self._process))  # (the pipe
                return  # must never fill up)
        raise RuntimeError("redis-server exited before it was ready")

    @staticmethod
    async def _drain(process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while await process.stdout.readline():
            pass

    async def signaling_server(self, db: int = 0, **options: Any) -> Any:
        """A talklab signaling server (on a free loopback port) keeping its rooms in database
        ``db`` of this Redis, started, and closed with it: in a notebook, re-running the cell
        that makes ``redis = await RedisServer()`` closes the servers the last one had too."""
        from talklab.server import SignalingServer
        server = await SignalingServer(redis_url=self.url(db), **options).start()
        self.servers.append(server)
        return server

    async def close(self) -> None:
        """Stop its signaling servers, then redis-server (everything it held is gone: nothing
        was kept on disk)."""
        if self.running:
            self.closed_by = made_by()
        servers, self.servers = self.servers, []
        for server in servers:
            await server.close()
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await within(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._folder is not None:
            with contextlib.suppress(OSError):
                self._folder.cleanup()
            self._folder = None
        self.port = None
        if RedisServer.current is self:
            RedisServer.current = None

    def __await__(self) -> Generator[Any, None, RedisServer]:
        return self._replace().__await__()

    async def _replace(self) -> RedisServer:
        previous = RedisServer.current
        if previous is not None and previous is not self:
            await previous.close()
        await self.start()
        RedisServer.current = self
        return self


def _tied_to_this_process() -> list[str]:
    """A command prefix that makes the program it runs receive SIGTERM when this process ends
    (Linux's PR_SET_PDEATHSIG, through util-linux's setpriv), or nothing where there is none."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []
