"""Small helpers shared by several test files."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import pathlib
import queue
import random
import secrets
import shutil
import subprocess
import sys
import threading
import types
import wave
from collections.abc import Iterator

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
