"""The learner's own microphone and ears, in the kernel: the seed's Dave, for real.

In the seed, Dave's browser calls ``getUserMedia`` and his microphone becomes the track his
calls send. A notebook's learner has a browser too, but the kernel may be far from it (on
Binder, no UDP reaches the kernel's pod): the only path between them is the Jupyter connection
the notebook already uses. So the learner's page (the widget of
:mod:`talklab.views.microphone`) captures the microphone and sends it to the kernel as 20 ms
frames of PCM, and the kernel sends back what one person hears. This module is the kernel's
half, with no widget in it:

* :class:`CaptureBuffer`: the frames from the page, resampled to 48 kHz (the page captures at
  its audio context's own rate: Firefox refuses any other), kept at most ``max_seconds``. Frames
  arrive on whatever thread the kernel reads comm messages on (a subshell's, with JupyterLab
  4.4+ and ipykernel 7) and are read on the lab's loop, so it is locked. Nothing wakes the loop
  for them: the voice below takes what is there on its own 20 ms clock. A page that sends
  faster than real time loses its oldest audio, never grows the kernel's memory.
* :class:`PageVoice`: that buffer as a microphone track, paced like one (:class:`AudioTrack`'s
  clock): it waits for a small prefill, then plays; when frames are late it plays silence and
  waits for the prefill again, and when more than BACKLOG_SECONDS wait it drops the oldest, as a
  browser's jitter buffer would.
* :class:`Mix`: what one person hears (the sum of their ears, one per call), 20 ms at a time,
  for the page to play: each ear's audio waits at most BACKLOG_SECONDS to be mixed (or
  ``max_seconds``, if less).

Tested in tests/test_learner.py (sans-I/O: bounds, resampling, prefill, the mix) and
tests/test_microphone.py (the widget in real JupyterLab and Chromium with a fake microphone).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import av
import numpy as np

from talklab.browser.media import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioTrack,
    NotAllowedError,
    TrackEnded,
)

if TYPE_CHECKING:
    from talklab.browser.hearing import Ear

PREFILL_SECONDS = 0.06  # three frames: what the voice waits for before it plays
MAX_SECONDS = 1.0  # what the kernel keeps of the page's audio, either way
# what may wait to be played, past which the oldest goes (a jitter buffer catching up): audio
# that arrives in bursts, or from a clock a little faster than the player's, would otherwise
# pile up, and everything after it would be heard that much later (up to MAX_SECONDS)
BACKLOG_SECONDS = 0.2


def to_int16(pcm: np.ndarray) -> np.ndarray:
    """Float samples from -1 to 1 (Web Audio's) as 16-bit ones, clipped."""
    return (np.clip(np.nan_to_num(pcm), -1.0, 1.0) * 32767).astype(np.int16)


class CaptureBuffer:
    """The learner's microphone as it arrives from the page: mono int16 at 48 kHz, at most
    ``max_seconds`` of it (the oldest goes first), safe to fill from another thread."""

    def __init__(self, max_seconds: float = MAX_SECONDS) -> None:
        self.capacity = int(max_seconds * SAMPLE_RATE)
        self._ring = np.zeros(self.capacity, np.int16)
        self._start = 0  # index of the oldest sample kept
        self._size = 0
        self._lock = threading.Lock()
        self._resamplers: dict[int, av.AudioResampler] = {}
        self.received = 0  # samples received, at 48 kHz
        self.dropped = 0  # samples thrown away because the buffer was full
        self.frames = 0  # frames received
        self.rate: int | None = None  # the page's sample rate, as it said

    def push(self, pcm: np.ndarray, rate: int) -> None:
        """Take one frame from the page: float32 (or int16) mono samples at ``rate`` Hz.
        Raises ValueError for what no page sends (a rate outside 8-192 kHz, more than a
        second in one frame, more than one dimension), changing nothing."""
        if not 8_000 <= rate <= 192_000:
            raise ValueError(f"a sample rate of {rate} Hz is not a microphone's")
        if pcm.ndim != 1 or pcm.size > rate:
            raise ValueError(f"a frame of shape {pcm.shape} is not up to 1 s of mono audio")
        samples = pcm if pcm.dtype == np.int16 else to_int16(pcm.astype(np.float32))
        with self._lock:
            self.rate = rate
            if rate != SAMPLE_RATE:
                samples = self._resample(samples, rate)
            self._append(samples)
            self.frames += 1

    def _resample(self, samples: np.ndarray, rate: int) -> np.ndarray:
        resampler = self._resamplers.get(rate)
        if resampler is None:  # (stateful: one per rate, so frames join smoothly)
            resampler = self._resamplers[rate] = av.AudioResampler(
                format="s16", layout="mono", rate=SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    def _append(self, samples: np.ndarray) -> None:
        n = samples.size
        self.received += n
        if n >= self.capacity:  # (only the newest capacity's worth can be kept)
            self.dropped += self._size + n - self.capacity
            self._ring[:] = samples[-self.capacity:]
            self._start, self._size = 0, self.capacity
            return
        over = self._size + n - self.capacity
        if over > 0:  # full: the oldest goes
            self._start = (self._start + over) % self.capacity
            self._size -= over
            self.dropped += over
        end = (self._start + self._size) % self.capacity
        first = min(n, self.capacity - end)
        self._ring[end:end + first] = samples[:first]
        self._ring[:n - first] = samples[first:]
        self._size += n

    def take(self, n: int) -> np.ndarray:
        """Up to ``n`` of the oldest samples kept (fewer if fewer are there)."""
        with self._lock:
            n = min(n, self._size)
            first = min(n, self.capacity - self._start)
            out = np.concatenate([self._ring[self._start:self._start + first],
                                  self._ring[:n - first]])
            self._start = (self._start + n) % self.capacity
            self._size -= n
            return out

    @property
    def buffered(self) -> int:
        """Samples kept, waiting to be played."""
        with self._lock:
            return self._size


class Refused(TrackEnded, NotAllowedError):
    """The learner's voice ended because their browser refused the microphone: a track that
    ended to the person sending it (aiortc's senders stop quietly), and the browser's
    ``NotAllowedError`` to a notebook cell reading it."""


class PageVoice(AudioTrack):
    """The learner's microphone, from their page, as a track a person can send (what
    ``getUserMedia`` gives Dave in the seed). Silence until ``prefill`` seconds have arrived,
    and again after running dry; :attr:`underruns` counts how often it ran dry."""

    source = "browser"

    def __init__(self, buffer: CaptureBuffer, label: str = "your microphone (this page)",
                 prefill: float = PREFILL_SECONDS,
                 on_stop: Callable[[], None] | None = None) -> None:
        super().__init__(label=label)
        self.buffer = buffer
        self.on_stop = on_stop  # told when the track stops (its person or lab closed)
        self.prefill = int(prefill * SAMPLE_RATE)
        self.playing = False
        self.underruns = 0
        self.backlog = int(BACKLOG_SECONDS * SAMPLE_RATE)
        self.trimmed = 0  # samples thrown away to catch up (see BACKLOG_SECONDS)
        self.refused: str | None = None  # set when the learner's browser refused the microphone

    def samples(self, n: int) -> np.ndarray:
        if not self.playing:
            if self.buffer.buffered < max(self.prefill, n):
                return np.zeros(n, np.int16)
            self.playing = True
        late = self.buffer.buffered - max(self.prefill, n) - self.backlog
        if late > 0:  # catch up: what waited longest goes, back to the prefill
            self.trimmed += self.buffer.take(late + self.backlog).size
        got = self.buffer.take(n)
        if got.size < n:
            self.playing = False
            self.underruns += 1
            got = np.pad(got, (0, n - got.size))
        return got

    def stop(self) -> None:
        was_live = self.readyState == "live"
        super().stop()
        if was_live and self.refused is None and self.on_stop is not None:
            self.on_stop()  # (a refused microphone was never the page's to release)

    async def recv(self) -> av.AudioFrame:
        if self.refused is not None:  # the browser said no after this voice was handed out:
            self.stop()  # it ends, as a browser's track does, and its sender stops quietly
            raise Refused(f"{self.label} ended: your browser refused the microphone "
                          f"({self.refused}); allow it for this site and click again")
        return await super().recv()


class Mix:
    """What one person hears, mixed from their ears (one per call), 20 ms at a time.

    Each :meth:`frame` takes what every ear received since the last one, keeps at most
    ``max_seconds`` of each ear's backlog (a page that falls behind loses the oldest, never
    grows the kernel's memory), and sums one frame's worth of each."""

    def __init__(self, max_seconds: float = MAX_SECONDS) -> None:
        self.limit = int(min(max_seconds, BACKLOG_SECONDS) * SAMPLE_RATE)
        self._read: dict[int, int] = {}  # id(ear) -> samples of it already taken
        self._pending: dict[int, np.ndarray] = {}
        self.dropped = 0

    def frame(self, ears: list[Ear], n: int = FRAME_SAMPLES) -> np.ndarray:
        """The next ``n`` samples of the mix (int16; silence where nothing arrived)."""
        total = np.zeros(n, np.int32)
        alive = set()
        for ear in ears:
            key = id(ear)
            alive.add(key)
            new, self._read[key] = ear.since(self._read.get(key, ear.written))
            pending = np.concatenate([self._pending.get(key, np.zeros(0, np.int16)), new])
            if pending.size > self.limit:
                self.dropped += pending.size - self.limit
                pending = pending[-self.limit:]
            use, self._pending[key] = pending[:n], pending[n:]
            total[:use.size] += use
        for key in set(self._read) - alive:  # an ear that went (a call ended)
            self._read.pop(key, None)
            self._pending.pop(key, None)
        return np.clip(total, -32768, 32767).astype(np.int16)

