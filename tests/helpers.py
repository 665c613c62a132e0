"""Small helpers shared by several test files."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import json
import math
import os
import pathlib
import queue
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import types
import wave
from collections.abc import AsyncIterator, Iterator

import numpy as np

ANSWERS = pathlib.Path(__file__).parent.parent / "notebooks" / "answers"


def write_tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    """Write ``files`` (relative path -> text) under ``root``, folders made as needed: a made-up
    source tree for the checkers of tests/test_layers.py and tests/test_layout.py."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def write_tone(path, hz: float, seconds: float = 10.0, rate: int = 48_000,
               beeping: bool = False) -> None:
    """A mono 16-bit WAV of a sine at ``hz``; with ``beeping``, sounding in 100 ms blocks at
    irregular gaps (:func:`beeps`), so that its loudness can be timed (talklab.browser.latency)."""
    t = np.arange(int(rate * seconds)) / rate
    gain = beeps(t.size, rate) if beeping else 1.0
    data = (0.4 * 32767 * gain * np.sin(2 * math.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def beeps(n: int, rate: int = 48_000, seed: int = 3) -> np.ndarray:
    """A gain of 1 or 0 for each of ``n`` samples: 100 ms blocks, four in ten sounding, at
    random (seeded): a loudness with no period for a cross-correlation to be fooled by."""
    block = rate // 10
    on = np.random.default_rng(seed).random(n // block + 1) < 0.4
    return np.repeat(on, block)[:n].astype(np.float64)


def mutated(rng: random.Random, seeds: list[bytes], count: int, max_random: int = 80):
    """``count`` fuzz datagrams: a seed with 0-6 bytes changed, or (one in five) random bytes."""
    for _ in range(count):
        if rng.random() < 0.2:
            yield os.urandom(rng.randrange(max_random))
            continue
        packet = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 6)):
            packet[rng.randrange(len(packet))] = rng.randrange(256)
        yield bytes(packet)


def answer_key(notebook: str) -> types.ModuleType:
    """The teacher's answer key for notebook ``notebook`` ("04"): notebooks/answers/04.py, the
    solution of each exercise under the exercise's name, and the notebook's predictions and
    self-checks answered (``PREDICTIONS``, ``SELF_CHECKS``)."""
    key = ANSWERS / f"{notebook}.py"
    spec = importlib.util.spec_from_file_location(f"answers_{notebook}", key)
    assert spec is not None and spec.loader is not None, f"no answer key {key}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def running_jupyterlab(tmp: pathlib.Path, notebooks: pathlib.Path,
                       settings: dict[str, dict] | None = None, *options: str
                       ) -> Iterator[tuple[str, str, pathlib.Path]]:
    """A real JupyterLab on 127.0.0.1 with a token, serving a copy of ``notebooks``, with its
    own configuration and settings in ``tmp``: ``(url, token, work folder)``. ``settings``
    adds user settings (``{"@jupyterlab/plugin/file": {...}}``), ``options`` command-line
    options."""
    work = tmp / "work"
    shutil.copytree(notebooks, work)
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    jupyter = str(pathlib.Path(sys.executable).with_name("jupyter"))
    # the news pop-up off, as `jupyter labextension disable` would, in the throwaway config
    labconfig = tmp / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # every cell rendered, in view or not (JupyterLab 4 renders only those in view by default),
    # so a live view further down the notebook is on the page while the notebook runs
    every = {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
             **(settings or {})}
    for name, values in every.items():
        path = tmp / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token = secrets.token_hex(16)
    proc = subprocess.Popen(
        [jupyter, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
         "--LabApp.extension_manager=readonly",  # never asks PyPI for extensions
         *(["--allow-root"] if os.geteuid() == 0 else []), *options],
        env=env, stderr=subprocess.PIPE, text=True)
    found: queue.Queue = queue.Queue()

    def drain() -> None:  # read the log for the URL, and keep reading so the pipe never fills
        assert proc.stderr is not None
        for line in proc.stderr:
            if "http://127.0.0.1:" in line and "/lab" in line:
                found.put(line[line.index("http://127.0.0.1:"):].split("/lab")[0])
        found.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        url = found.get(timeout=60)
        assert url, "JupyterLab did not start"
        yield url.rstrip("/"), token, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- a learner's browser that reaches JupyterLab over TCP only, as on Binder (issue 22) ---------
CLONE_NEWNET = 0x40000000
# the namespace drops every UDP datagram, both ways, and counts them
NO_UDP = """table inet learner {
  chain out { type filter hook output priority 0; policy accept; meta l4proto udp counter drop; }
  chain in { type filter hook input priority 0; policy accept; meta l4proto udp counter drop; }
}
"""


def _listening_socket_in(namespace: str) -> socket.socket:
    """A TCP socket listening on 127.0.0.1 inside ``namespace``, made from a thread of its own
    (``setns`` moves only the calling thread; the socket stays in the namespace it was made in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    made: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            with open(f"/var/run/netns/{namespace}") as target:
                if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            sock.setblocking(False)
            made.append(sock)
        except BaseException as exc:  # (handed to the caller)
            made.append(exc)

    thread = threading.Thread(target=make)  # (a thread that ends: nothing else runs in there)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


async def _pump(reader, writer) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.close()


@contextlib.asynccontextmanager
async def tcp_only(url: str) -> AsyncIterator[tuple[str, str]]:
    """A network namespace for a learner's browser whose only way to the JupyterLab at ``url``
    (on this machine's 127.0.0.1) is TCP: the namespace has nothing but its own loopback, drops
    every UDP datagram (NO_UDP), and a forwarder (like an SSH tunnel, or Binder's proxy)
    carries TCP connections from a port on its loopback to JupyterLab's. The page opens
    ``http://127.0.0.1:<that port>``: loopback, so a secure context. Yields ``(namespace, the
    URL to open in it)``; the namespace is named as the network lab names its own
    (talklab.netlab), so a killed run's is cleaned up by the next. Root only."""
    from talklab.netlab import plan, shell
    prefix = plan.new_prefix(shell.namespaces())
    namespace = f"{prefix}-learner"
    target = url.rsplit(":", 1)
    host, port = target[0].removeprefix("http://"), int(target[1])
    shell.claim(prefix)
    server = None
    try:
        shell.run(plan.Step(("ip", "netns", "add", namespace), "the learner's machine"))
        shell.run(plan.Step(("ip", "-n", namespace, "link", "set", "lo", "up"), "its loopback"))
        shell.run(plan.Step(("ip", "netns", "exec", namespace, "nft", "-f", "-"), "no UDP",
                            NO_UDP))

        open_writers: set = set()

        async def forward(reader, writer) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
            except OSError:
                writer.close()
                return
            open_writers.update((writer, up_writer))
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
            open_writers.difference_update((writer, up_writer))

        server = await asyncio.start_server(forward, sock=_listening_socket_in(namespace))
        inside = server.sockets[0].getsockname()[1]
        yield namespace, f"http://127.0.0.1:{inside}"
    finally:
        if server is not None:
            server.close()
            for writer in list(open_writers):  # (the browser has gone: what it left open)
                writer.close()
            await server.wait_closed()
        with contextlib.suppress(shell.CommandFailed):
            shell.run(plan.Step(("ip", "netns", "delete", namespace), "teardown"))
        shell.release(prefix)


def udp_dropped(namespace: str) -> int:
    """How many UDP datagrams the namespace of :func:`tcp_only` dropped so far."""
    from talklab.netlab import plan, shell
    rules = shell.run(plan.Step(("ip", "netns", "exec", namespace, "nft", "list", "table",
                                 "inet", "learner"), "its counters"))
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", rules))


def in_namespace(namespace: str, executable: str, folder: pathlib.Path) -> str:
    """A script that runs ``executable`` inside ``namespace`` (for Playwright's
    ``executable_path``: its pipes to the browser pass through ``ip netns exec``)."""
    script = folder / "in-namespace"
    script.write_text(f"#!/bin/sh\nexec ip netns exec {namespace} {executable} \"$@\"\n")
    script.chmod(0o755)
    return str(script)


async def recorded_call(lab, path: pathlib.Path, seconds: float):
    """Alice in voice, then Bob joining her call while Alice's machine is recorded to ``path``
    (``lab.capture``) until both have heard ``seconds`` of each other: ``(alice, bob, files)``."""
    alice = await lab.join("Alice", voice=True)
    async with lab.capture(path) as files:
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        await asyncio.gather(alice.wait_heard(seconds), bob.wait_heard(seconds))
    return alice, bob, files
