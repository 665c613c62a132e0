"""Small helpers shared by several test files."""

from __future__ import annotations

import math
import os
import random
import wave

import numpy as np


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
