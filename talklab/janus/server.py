"""A real Janus WebRTC server, started and stopped by talklab: :class:`Janus`.

``async with Janus() as janus:`` writes a configuration into a private temporary folder
(:mod:`talklab.janus.config`), starts the ``janus`` binary (Debian package ``janus``) with
talklab's loopback guard preloaded (:mod:`talklab.janus.loopback`), and returns once Janus's
HTTP API answers ``GET /janus/info``. Leaving the block stops it (SIGTERM, then SIGKILL after
``stop_timeout``) and removes the folder: no process, port or file is left behind.

Waiting is event-driven and bounded: Janus's log is read line by line as it is written, and
startup ends at the first of three events: the HTTP transport says its web server started
(then ``/janus/info`` is asked), the process exits (then the cause is read from its log), or
``start_timeout`` passes. A failed start raises :class:`JanusStartError` naming the cause
(port taken, configuration unreadable, Janus exited or crashed, guard not loaded) with the last
lines of the log. Where Janus is not installed, :class:`JanusUnavailable` says so: a notebook
catches it to print "this section needs Janus" and move on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from talklab._service import Service
from talklab.janus import loopback
from talklab.janus.client import JanusClient
from talklab.janus.config import DEFAULT_PLUGINS, JanusSettings, janus_library_folder, write_config
from talklab.tasks import cancel_and_wait, within

LOG_LINES = 400  # kept for errors and for learners (Janus.log)
READY_HINTS = ("webserver started", "REST (HTTP/HTTPS) transport plugin initialized")


class JanusUnavailable(RuntimeError):
    """Janus cannot run here: the binary, its plugins, or talklab's loopback guard is missing."""


class JanusStartError(RuntimeError):
    """Janus was started but did not come up; ``cause`` says why, ``log`` holds its last lines."""

    def __init__(self, cause: str, log: list[str], *, port_taken: bool = False) -> None:
        self.cause = cause
        self.log = log
        self.port_taken = port_taken
        tail = "\n".join(f"    {line}" for line in log[-12:]) or "    (nothing)"
        super().__init__(f"Janus did not start: {cause}\n  last lines of its log:\n{tail}")


def janus_binary() -> str | None:
    """The path of the ``janus`` executable, or ``None``."""
    return shutil.which("janus")


def available() -> bool:
    """True when this machine can run the lab's Janus (binary and its library folder)."""
    return janus_binary() is not None and janus_library_folder() is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _in_use(host: str, port: int) -> bool:
    """Someone else holds ``host:port`` (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _why(log: list[str], returncode: int | None, port: int, host: str) -> tuple[str, bool]:
    """The cause of a failed start, read from Janus's log and exit status. (Janus 1.1.2 may
    crash, SIGSEGV, while it fails to bind its HTTP port, before it logs why: the port is
    probed too.)"""
    text = "\n".join(log)
    if re.search(r"Couldn't start webserver on port", text) or _in_use(host, port):
        return f"the HTTP API's port {host}:{port} is taken (or cannot be bound)", True
    if "Error parsing" in text or "Error reading configuration" in text:
        line = next(line for line in log if "Error pars" in line or "Error reading" in line)
        return f"its configuration could not be read ({line.strip()})", False
    fatal = next((line.strip() for line in log if "[FATAL]" in line or "[ERR]" in line), None)
    if returncode is not None and returncode < 0:
        what = f"Janus was killed by signal {-returncode} ({signal.Signals(-returncode).name})"
    elif returncode is not None:
        what = f"Janus exited with status {returncode}"
    else:
        what = "Janus is running but its API did not answer"
    return (f"{what}: {fatal}" if fatal else what), False


class Janus(Service):
    """One Janus process on loopback, owned by the lab that started it.

    ``port=0`` (the default) picks a free loopback port (and retries with another if it is
    taken in between). ``plugins`` names the Janus plugins to load (``"videoroom"``: SFU,
    ``"audiobridge"``: MCU). The API secret and the accepted Origin are random per start and
    known only to this object; :meth:`client` gives a client that uses them.
    """

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1",
                 plugins: tuple[str, ...] = DEFAULT_PLUGINS, binary: str | None = None,
                 start_timeout: float = 10.0, stop_timeout: float = 3.0,
                 debug_level: int = 4) -> None:
        if not 4 <= debug_level <= 7:
            raise ValueError("debug_level must be 4-7 (talklab reads Janus's startup lines)")
        self.requested_port = port
        self.host = host
        self.plugins = tuple(plugins)
        self.binary = binary
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.debug_level = debug_level
        self.settings: JanusSettings | None = None
        self.folder: Path | None = None
        self.guard: Path | None = None
        self.started_in: float | None = None  # s from launch to the API answering
        self.stopped_in: float | None = None  # s from SIGTERM to exit
        self.info: dict[str, Any] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._reader: asyncio.Task[None] | None = None
        self._hint = asyncio.Event()
        self._clients: list[JanusClient] = []
        self.last_pid: int | None = None  # of the latest process, kept after it ended
        self.returncode: int | None = None  # its exit status, once it ended

    # -- what it is --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("Janus is not started")
        return self._process.pid

    def _settings(self) -> JanusSettings:
        if self.settings is None:
            raise RuntimeError("Janus is not started")
        return self.settings

    @property
    def url(self) -> str:
        """The Janus API's base URL, ``http://127.0.0.1:<port>/janus``."""
        return self._settings().url

    @property
    def port(self) -> int:
        return self._settings().port

    @property
    def api_secret(self) -> str:
        return self._settings().api_secret

    @property
    def origin(self) -> str:
        """The only ``Origin`` header this Janus accepts."""
        return self._settings().allow_origin

    def log(self, lines: int = 40) -> list[str]:
        """The last ``lines`` lines Janus wrote (its log at ``debug_level``)."""
        return list(self._log)[-lines:]

    def client(self) -> JanusClient:
        """A new client of this Janus's API, with its secret and Origin (closed with it)."""
        made = JanusClient(self.url, api_secret=self.api_secret, origin=self.origin)
        self._clients.append(made)
        return made

    def sockets(self) -> list[loopback.Socket]:
        """Every UDP/TCP socket the Janus process holds right now."""
        return loopback.process_sockets(self.pid)

    def sockets_outside_loopback(self) -> list[loopback.Socket]:
        """The Janus sockets bound or connected outside 127.0.0.0/8 (there should be none)."""
        return loopback.outside_loopback(self.sockets())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the Janus process has used so far, in seconds."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_bytes(self) -> int:
        """The Janus process's resident memory."""
        pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")

    # -- start -------------------------------------------------------------------------------------
    async def start(self) -> Janus:
        if self.running:
            return self
        binary = self.binary or janus_binary()
        if binary is None or not os.access(binary, os.X_OK):
            raise JanusUnavailable(f"the Janus WebRTC server is not installed here "
                                   f"({binary or 'no `janus` on PATH'}): apt-get install janus")
        library = janus_library_folder()
        if library is None:
            raise JanusUnavailable("Janus's plugin folder was not found (looked in "
                                   "/usr/lib/*/janus and /usr/local/lib/janus)")
        try:
            self.guard = loopback.library_path()
        except loopback.GuardUnavailable as exc:
            raise JanusUnavailable(str(exc)) from None
        attempts = 3 if self.requested_port == 0 else 1
        for attempt in range(attempts):
            port = self.requested_port or free_port(self.host)
            self.settings = JanusSettings(port=port, host=self.host, plugins=self.plugins,
                                          debug_level=self.debug_level)
            try:
                await self._launch(binary, library)
                return self
            except JanusStartError as exc:
                await self._stop()
                if not (exc.port_taken and attempt + 1 < attempts):
                    raise
            except BaseException:  # cancelled while starting: leave nothing behind
                await self._stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _launch(self, binary: str, library: Path) -> None:
        settings = self._settings()
        assert self.guard is not None
        self.folder = Path(tempfile.mkdtemp(prefix="talklab-janus-"))  # mode 0700
        config = write_config(settings, self.folder, library)
        env = dict(os.environ)
        env["LD_PRELOAD"] = ":".join(p for p in (str(self.guard), env.get("LD_PRELOAD")) if p)
        env["TALKLAB_JANUS_PARENT"] = str(os.getpid())
        self._log.clear()
        self._hint.clear()
        launched = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            binary, "-F", str(self.folder), "-C", str(config), "-o",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(self.folder),
            process_group=0)  # Interrupt Kernel signals the kernel's group: not Janus's
        self.last_pid, self.returncode = self._process.pid, None
        self._reader = asyncio.ensure_future(self._read(self._process))
        await self._wait_ready()
        self.started_in = time.monotonic() - launched

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        """Keep Janus's log (and never let its pipe fill up)."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            self._log.append(text)
            if any(hint in text for hint in READY_HINTS):
                self._hint.set()

    async def _wait_ready(self) -> None:
        assert self._process is not None
        settings = self._settings()
        process = self._process
        exited = asyncio.ensure_future(process.wait())
        hinted = asyncio.ensure_future(self._hint.wait())
        try:
            done, _ = await asyncio.wait({exited, hinted}, timeout=self.start_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (exited, hinted):
                waiter.cancel()
        if not done:
            raise JanusStartError(f"no answer within {self.start_timeout} s", self.log())
        if process.returncode is not None or exited in done:
            if self._reader is not None:  # the rest of its last words
                with contextlib.suppress(TimeoutError):
                    await within(asyncio.shield(self._reader), 1.0)
            cause, port_taken = _why(self.log(LOG_LINES), process.returncode, settings.port,
                                     settings.host)
            raise JanusStartError(cause, self.log(), port_taken=port_taken)
        assert self.guard is not None
        if not loopback.guard_loaded(process.pid, self.guard):  # before anyone talks to it
            raise JanusStartError(f"talklab's loopback guard ({self.guard}) is not loaded into "
                                  f"Janus, so it could gather beyond 127.0.0.0/8", self.log())
        self.info = await self._ask_info()

    async def _ask_info(self) -> dict[str, Any]:
        """``GET /janus/info``, retried briefly: the log line comes just before the server."""
        settings = self._settings()
        deadline = time.monotonic() + min(2.0, self.start_timeout)
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                try:
                    async with http.get(settings.url + "/info",
                                        headers={"Origin": settings.allow_origin}) as response:
                        info: dict[str, Any] = await response.json(content_type=None)
                    if info.get("janus") != "server_info":
                        raise JanusStartError(f"/janus/info answered {info!r}", self.log())
                    missing = [p for p in settings.plugins
                               if f"janus.plugin.{p}" not in info.get("plugins", {})]
                    if missing:
                        raise JanusStartError(f"plugins not loaded: {missing}", self.log())
                    return info
                except (TimeoutError, aiohttp.ClientConnectionError):
                    if time.monotonic() > deadline or not self.running:
                        cause, taken = _why(self.log(LOG_LINES), self._process.returncode
                                            if self._process else None,
                                            settings.port, settings.host)
                        raise JanusStartError(cause, self.log(), port_taken=taken) from None
                    await asyncio.sleep(0.02)

    # -- stop --------------------------------------------------------------------------------------
    async def close(self) -> None:
        for made in self._clients:
            await made.close()
        self._clients.clear()
        await self._stop()

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.returncode is None:
                asked = time.monotonic()
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await within(process.wait(), self.stop_timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
                self.stopped_in = time.monotonic() - asked
            self.returncode = process.returncode
        if self._reader is not None:  # (its last lines, for a second; then it is stopped)
            await asyncio.wait({self._reader}, timeout=1.0)
            await cancel_and_wait(self._reader)
            self._reader = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __repr__(self) -> str:
        where = self.url if self.settings else "not started"
        return f"<Janus {where} {'running' if self.running else 'stopped'}>"
