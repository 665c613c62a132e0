"""How late a voice arrives: the delay between two loudness envelopes of the same audio.

A voice leaves a mouth (a microphone, a track) and reaches an ear (a decoder's output, a page's
speakers) some time later: the frame is captured, queued, encoded with Opus, packetized, sent,
held in the receiver's jitter buffer, decoded, and played. Each step adds time. Measuring the
sum needs no timestamps inside any of them: the loudness of the audio, taken every 20 ms where
it leaves and where it arrives, draws the same curve twice, shifted by the delay. The shift at
which the two curves agree best (their normalized cross-correlation) is the delay.

That needs a voice whose loudness changes: speech, a clap, a beep. A steady tone draws a flat
line, which agrees with itself at every shift: :func:`delay` then says it cannot tell (None)
rather than guess. Both envelopes must be on one clock: within this kernel, ``time.time()``;
from the learner's page, the page's clock moved onto the kernel's by the offset the widget
measures with a ping (NTP's formula, RFC 5905, 8: the offset is the difference of the two
clocks at the midpoint of the round trip).

Sans-I/O: plain values in, plain values out. Used by :mod:`talklab.views.microphone` (the
learner's two legs of latency) and measured live in tests/test_microphone.py; unit-tested in
tests/test_latency.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

FLOOR_DB = -60.0  # quieter than this counts as silence
FRAME = 0.02  # s: the envelope's natural step (one frame)


class Envelope:
    """The loudness of a stream of frames, as ``(time, dBFS)`` points, the last ``seconds``
    of them (bounded: a frame every 20 ms, 500 points for 10 s)."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.points: deque[tuple[float, float]] = deque(maxlen=max(2, int(seconds / FRAME)))

    def add(self, t: float, level_db: float) -> None:
        self.points.append((float(t), max(FLOOR_DB, float(level_db))))

    def add_samples(self, t: float, samples: np.ndarray) -> None:
        """One frame's loudness (int16 or float samples), at time ``t``."""
        self.add(t, level_db(samples))

    def __len__(self) -> int:
        return len(self.points)


def level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS of int16 (full scale 32768) or float (full scale 1) samples."""
    if samples.size == 0:
        return FLOOR_DB
    x = samples.astype(np.float64)
    if samples.dtype.kind in "iu":
        x /= 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return max(FLOOR_DB, 20 * np.log10(rms)) if rms > 0 else FLOOR_DB


@dataclass(frozen=True)
class Delay:
    """A measured delay: ``seconds``, and how well the two envelopes agreed at that shift
    (a correlation from 0 to 1: 1 is the same curve)."""

    seconds: float
    correlation: float


def delay(sent: Envelope, received: Envelope, max_lag: float = 1.0, step: float = 0.01,
          window: float = 1.0, min_swing: float = 6.0,
          min_correlation: float = 0.7, min_margin: float = 0.05) -> Delay | None:
    """The delay of ``received`` behind ``sent`` (from 0 to ``max_lag`` seconds), or None when
    it cannot be told.

    The received envelope is cut in ``window``-second pieces (half overlapping); each piece is
    matched against ``sent`` at every lag, and a piece counts when its loudness swings (at least
    ``min_swing`` dB between its quiet and loud tenths: not a steady tone, not silence) and its
    best lag agrees well (``min_correlation``). The delay is the median of the pieces' lags: a
    receiver that dropped audio to catch up, or a burst of late frames, spoils a piece or two,
    not the answer. A second is long enough to hold a few beeps or syllables, and short enough
    that the delay rarely changes inside it: over a real notebook connection it wanders by a
    tenth of a second and more as frames come in bursts and each side catches up, and pieces of
    two seconds then agreed too badly to count (measured: none timed in 25 s, where one-second
    pieces timed the same audio at 0.53 s).

    A sound that repeats (a beep every second) agrees with itself one period later too: a
    piece whose best lag is matched, within ``min_margin``, by a lag a quarter of a window
    away or more is ambiguous, and does not count (a learner's fake microphone, beeping every
    second, was once timed 1.2 s and 0.64 s at the same moment)."""
    if len(sent) < 10 or len(received) < 10:
        return None
    st, sv = (np.array(v) for v in zip(*sent.points, strict=True))
    rt, rv = (np.array(v) for v in zip(*received.points, strict=True))
    if _swing(sv) < min_swing:
        return None
    lags = np.arange(0.0, max_lag + step / 2, step)
    found: list[tuple[float, float]] = []
    start = rt[0]
    while start + window <= rt[-1] + step:
        grid = np.arange(start, start + window, step)
        heard = np.interp(grid, rt, rv)
        start += window / 2
        if _swing(heard) < min_swing or grid[0] - max_lag < st[0] or grid[-1] > st[-1] + max_lag:
            continue
        scores = np.array([_correlation(np.interp(grid - lag, st, sv), heard) for lag in lags])
        best = int(np.argmax(scores))
        elsewhere = scores[np.abs(lags - lags[best]) >= window / 4]
        ambiguous = elsewhere.size > 0 and elsewhere.max() >= scores[best] - min_margin
        if scores[best] >= min_correlation and not ambiguous:
            found.append((float(lags[best]), float(scores[best])))
    if not found:
        return None
    seconds = float(np.median([lag for lag, _ in found]))
    return Delay(seconds=round(seconds, 3),
                 correlation=round(float(np.mean([c for _, c in found])), 3))


def _swing(levels: np.ndarray) -> float:
    return float(np.percentile(levels, 90) - np.percentile(levels, 10))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def clock_offset(sent: float, their_time: float, received: float) -> tuple[float, float]:
    """From one ping: ``sent`` and ``received`` on our clock, ``their_time`` on theirs when they
    answered: ``(offset, round_trip)``, where ``their clock + offset = ours`` (RFC 5905, 8)."""
    round_trip = received - sent
    return (sent + received) / 2 - their_time, round_trip
