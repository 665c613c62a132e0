"""Small helpers shared by several test files."""

from __future__ import annotations

import importlib.util
import math
import os
import pathlib
import random
import types
import wave

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


def write_tone(path, hz: float, seconds: float = 10.0, rate: int = 48_000) -> None:
    """A mono 16-bit WAV of a sine at ``hz``."""
    t = np.arange(int(rate * seconds)) / rate
    data = (0.4 * 32767 * np.sin(2 * math.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


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
