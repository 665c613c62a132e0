"""What the signaling server's tests share. Each test module declares the fixtures it uses
in a few lines, on these helpers (so that a module's fixtures are visible in the module):

* ``FAST_PATHS``: every server test runs twice, on talklab's own WebSocket loop and on
  python-engineio's (what the server falls back to when an internal it needs is missing);
* :func:`serving`: an in-process SignalingServer on that path;
* :func:`running_redis`: a real redis-server on a free loopback port, its URL naming database
  3 (so that a store that ignored the database would put its keys in database 0, and be
  caught).
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import shutil
import signal
import socket
import subprocess

from talklab.server import SignalingServer

FAST_PATHS = {"params": [True, False], "ids": ["fast-path", "engineio-loop"]}


@contextlib.asynccontextmanager
async def serving(fast_path: bool, **options):
    """A started SignalingServer on the path asked for (checked), closed afterwards."""
    async with SignalingServer(fast_path=fast_path, **options) as srv:
        assert srv.fast_path_active is fast_path
        yield srv


def cli_flags(fast_path: bool) -> list[str]:
    """The talklab-server flags for that path."""
    return [] if fast_path else ["--no-fast-path"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Redis:
    """A redis-server the test started (and stops)."""

    port: int
    proc: subprocess.Popen
    dir: pathlib.Path
    db: int = 3

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def cli(self, *args: str, db: int | None = None) -> str:
        """redis-cli against this server (database ``db``, by default the tests' 3)."""
        run = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "-n",
                              str(self.db if db is None else db), *args],
                             capture_output=True, text=True, timeout=10, check=True)
        return run.stdout

    def scan(self, db: int | None = None) -> set[str]:
        """Every key in database ``db`` (3 by default)."""
        return set(self.cli("--scan", db=db).split())

    def stop(self) -> None:
        """SIGSTOP: Redis stops answering, its sockets stay open (as a hung server's)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


def start_redis(directory: pathlib.Path, *extra: str, port: int | None = None) -> Redis:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (run `make test`, which installs it)"
    port = free_port() if port is None else port
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory), *extra],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # redis says when it accepts connections
        if "Ready to accept connections" in line:
            return Redis(port, proc, directory)
    raise RuntimeError("redis-server did not start")


def stop_redis(redis: Redis) -> None:
    redis.resume()  # (a test may have stopped it)
    redis.proc.terminate()
    redis.proc.wait(timeout=10)


@contextlib.contextmanager
def running_redis(directory: pathlib.Path):
    r = start_redis(directory)
    try:
        yield r
    finally:
        stop_redis(r)
