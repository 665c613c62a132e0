"""Step 9 of the seed, proven: what one person really hears from another.

Every remote audio track a person receives is read by an :class:`Ear` (an unread aiortc track
queues frames without bound, so reading is not optional). The ear keeps the last few seconds
as samples, and answers the questions a learner asks: is anything arriving, how loud, and at
what pitch? Because each synthetic voice is a tone of its own, "Dave hears Alice" becomes a
measurement: the dominant frequency of what came from Alice is Alice's tone.

Pitch is found with an FFT over the last second, a Hann window, and parabolic interpolation
between the strongest bin and its neighbours, which resolves a tone through Opus to about
0.01 Hz (bins are 1 Hz apart for a 1 s window).
"""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talklab.browser.latency import Envelope
from talklab.browser.media import SAMPLE_RATE
from talklab.tasks import cancel_and_wait, within

SILENCE_DBFS = -60.0


def dominant_frequency(samples: np.ndarray, rate: int = SAMPLE_RATE,
                       min_hz: float = 50.0) -> float | None:
    """The strongest frequency in ``samples`` (Hz), or ``None`` for silence or too little audio."""
    n = samples.size
    if n < rate // 10 or level_dbfs(samples) < SILENCE_DBFS:
        return None
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(n)))
    first = math.ceil(min_hz * n / rate)
    k = first + int(np.argmax(spectrum[first:-1]))
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
    denominator = a - 2 * b + c
    shift = 0.5 * (a - c) / denominator if denominator else 0.0
    return float((k + shift) * rate / n)


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level relative to full scale (0 dBFS = a full-scale square wave)."""
    if samples.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64)))))
    return 20 * math.log10(rms / 32768) if rms > 0 else -math.inf


class Ear:
    """Listens to one remote track and remembers the last ``seconds`` of it (mono, 48 kHz)."""

    def __init__(self, seconds: float = 5.0) -> None:
        self._ring = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)
        self._written = 0  # samples ever written
        self.frames = 0
        self.first_frame_at: float | None = None  # time.monotonic()
        self.last_frame_at: float | None = None
        self._task: asyncio.Task | None = None
        self._heard = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self.on_first_frame = lambda: None
        # the loudness of each frame as it is decoded, while someone measures a delay to it
        # (talklab.browser.latency); None costs nothing
        self.envelope: Envelope | None = None

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, frame) -> None:
        """Take one decoded ``av.AudioFrame`` (aiortc gives s16, usually stereo)."""
        data = frame.to_ndarray().reshape(-1)
        channels = len(frame.layout.channels)
        mono = data[::channels] if channels > 1 else data
        n, size = mono.size, self._ring.size
        start = self._written % size
        end = start + n
        if end <= size:
            self._ring[start:end] = mono
        else:
            split = size - start
            self._ring[start:] = mono[:split]
            self._ring[:n - split] = mono[split:]
        self._written += n
        self.frames += 1
        if self.envelope is not None:  # heard as a player would: frames that came in a burst
            # are played one after the other, each when the one before it has ended
            at = time.time()
            if self.envelope.points:
                at = max(at, self.envelope.points[-1][0] + n / SAMPLE_RATE)
            self.envelope.add_samples(at, mono)
        self.last_frame_at = time.monotonic()
        if self.first_frame_at is None:
            self.first_frame_at = self.last_frame_at
            self._heard.set()
            self.on_first_frame()
        if self._waiters:
            for waiter in [w for w in self._waiters if w[0] <= self.frames]:
                self._waiters.remove(waiter)
                if not waiter[1].done():
                    waiter[1].set_result(None)

    def listen(self, track: MediaStreamTrack) -> asyncio.Task:
        """Start reading ``track`` until it ends."""
        async def run() -> None:
            try:
                while True:
                    self.feed(await track.recv())
            except MediaStreamError:
                pass

        self._task = asyncio.ensure_future(run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def wait_frames(self, count: int, timeout: float) -> None:
        """Wait until ``count`` frames in all have arrived (50 frames = 1 s of audio)."""
        if self.frames >= count:
            return
        future = asyncio.get_running_loop().create_future()
        waiter = (count, future)
        self._waiters.append(waiter)
        try:
            await within(future, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- questions ---------------------------------------------------------------------------
    def recording(self, seconds: float | None = None) -> np.ndarray:
        """The last ``seconds`` (default: all kept) of what arrived, oldest first."""
        size = self._ring.size
        return self._last(min(self._written, size if seconds is None
                              else int(seconds * SAMPLE_RATE), size))

    @property
    def written(self) -> int:
        """How many samples have arrived in all: a position for :meth:`since`."""
        return self._written

    def since(self, position: int) -> tuple[np.ndarray, int]:
        """What arrived after sample number ``position`` (at most what the ear keeps), and
        the position to ask from next time (a reader that follows the ear, as a mix does)."""
        n = min(self._written - position, self._ring.size)
        return (self._last(n) if n > 0 else np.zeros(0, np.int16)), self._written

    def _last(self, n: int) -> np.ndarray:
        size = self._ring.size
        end = self._written % size
        if n <= end:
            return self._ring[end - n:end].copy()
        return np.concatenate([self._ring[size - (n - end):], self._ring[:end]])

    def pitch(self, seconds: float = 1.0) -> float | None:
        """The dominant frequency of the last ``seconds``, in Hz."""
        return dominant_frequency(self.recording(seconds))

    def level(self, seconds: float = 0.1) -> float:
        """The level of the last ``seconds``, in dBFS."""
        return level_dbfs(self.recording(seconds))

    @property
    def heard(self) -> bool:
        return self.frames > 0
