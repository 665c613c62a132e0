"""What the tests that start a signaling server or a Redis share, in one place: the helpers
below, and the fixtures at the end, which ``tests/conftest.py`` loads for every test module.

* ``FAST_PATHS``: every server test runs twice, on talklab's own WebSocket loop and on
  python-engineio's (what the server falls back to when an internal it needs is missing): the
  ``fast_path`` fixture, and so every test that uses ``server`` or ``clients``;
* :func:`serving`: an in-process SignalingServer on that path (the ``server`` fixture);
* :func:`server_process`: talklab-server as a user runs it, in a process of its own;
* :func:`running_redis`: a real redis-server on a free loopback port, its URL naming database
  3 (so that a store that ignored the database would put its keys in database 0, and be
  caught): the ``redis`` fixture;
* :func:`seated`: a raw Socket.IO client in a room (and in its voice channel).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from talklab.browser.signaling import SignalingClient
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


@dataclasses.dataclass
class ServerProcess:
    """A talklab-server the test started (and stops): the line it printed first, which ends
    with its URL, and the process."""

    line: str
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return self.line.split()[-1]


@contextlib.contextmanager
def server_process(*flags: str, fast_path: bool = True, script: bool = False):
    """talklab-server with ``flags`` on a free port (``python -m talklab.server``, or with
    ``script`` the console script, as a user starts it), terminated afterwards."""
    if script:
        command = [str(pathlib.Path(sys.executable).with_name("talklab-server"))]
        assert pathlib.Path(command[0]).exists(), \
            "talklab-server is not installed (run `make test`)"
    else:
        command = [sys.executable, "-m", "talklab.server"]
    proc = subprocess.Popen([*command, "--port", "0", *flags, *cli_flags(fast_path)],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, f"server said {line!r}"
        yield ServerProcess(line, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


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


async def seated(name: str, url: str, room: str, voice: bool = True,
                 user_id: str | None = None) -> SignalingClient:
    """A SignalingClient named ``name`` on the server at ``url``, in ``room`` (as ``user_id``
    when given) and, with ``voice``, in its voice channel."""
    c = await SignalingClient(name).connect(url)
    await c.emit("joinRoom", {"room": room, "username": name,
                              **({"userId": user_id} if user_id else {})})
    await c.next("roomJoined")
    if voice:
        await c.emit("joinVoice", {"room": room})
        await c.next("voiceJoined")
    return c


# -- the fixtures (loaded for every test module by tests/conftest.py) -----------------------------
@pytest.fixture(**FAST_PATHS)
def fast_path(request) -> bool:
    """Which WebSocket path the server runs: a test that uses this runs once on each."""
    return request.param


@pytest.fixture
async def server(fast_path):
    """A started in-process SignalingServer, on each WebSocket path in turn."""
    async with serving(fast_path) as srv:
        yield srv


@pytest.fixture
async def clients(server):
    """``await clients("Alice", "Bob")``: connected raw clients, closed after the test."""
    made: list[SignalingClient] = []

    async def connect(*names: str) -> list[SignalingClient]:
        out = []
        for name in names:
            c = await SignalingClient(name).connect(server.url)
            made.append(c)
            out.append(c)
        return out

    yield connect
    for c in made:
        await c.close()


@pytest.fixture
async def http():
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def redis(tmp_path):
    """A redis-server of the test's own (:func:`running_redis`)."""
    with running_redis(tmp_path) as r:
        yield r
