"""Who is talking in a mix: the level of each known voice inside one stream.

An MCU (the AudioBridge) sends each person *one* stream: the sum of everyone else's voice.
The mesh's proof, "the pitch of what came from Alice is Alice's tone", no longer applies: the
dominant frequency of a mix is only its loudest voice. What does apply is the opposite
question: *how much* of each known tone is in the mix?

The spectrum answers it. Take the FFT of the last second with a Hann window ``w``: a sinusoid
of amplitude ``A`` at frequency ``f`` makes a peak of height ``A * sum(w) / 2`` around bin
``f * n / rate``, whatever else is mixed in (the window's side lobes fall fast enough that
voices 110 Hz apart do not leak into one another over 1 s). So for each person's known tone,
:func:`tone_levels` looks for the strongest bin within ``SEARCH_HZ`` of it, refines the peak
with a parabola through that bin and its neighbours (on a log scale, as
:func:`talklab.browser.hearing.dominant_frequency` does), and reads off both the amplitude (as a
fraction of full scale) and the frequency actually measured there, to about 0.01 Hz. One FFT
serves every voice: cheap enough to ask often.

Tested in tests/test_janus_room.py (the mix proof on a made-up mix, without sockets: the known tones
found, measured, and no other; and in a live MCU room).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from talklab.browser.hearing import SILENCE_DBFS, level_dbfs
from talklab.browser.media import SAMPLE_RATE

FULL_SCALE = 32768.0
HEARD_FRACTION = 0.1  # a voice is "in the mix" at >= 10 % of the strongest voice's amplitude
SEARCH_HZ = 2.0  # a tone's peak is looked for this close to its known frequency (Hann lobe)


@dataclass(frozen=True)
class Tone:
    """One known tone, as found in a recording."""

    amplitude: float  # fraction of full scale
    hz: float  # the frequency of the peak found near the known tone


@functools.lru_cache(maxsize=8)
def _window(n: int) -> np.ndarray:
    return np.hanning(n)


def find_tones(samples: np.ndarray, tones: dict[str, float],
               rate: int = SAMPLE_RATE) -> dict[str, Tone]:
    """``{name: Tone}``: the peak of the spectrum near each known tone, from one FFT."""
    n = samples.size
    if n < 8:
        return {name: Tone(0.0, hz) for name, hz in tones.items()}
    window = _window(n)
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * window)) + 1e-12
    scale = 2 / window.sum() / FULL_SCALE  # peak height -> amplitude
    found = {}
    for name, hz in tones.items():
        low = max(1, math.floor((hz - SEARCH_HZ) * n / rate))
        high = min(spectrum.size - 2, math.ceil((hz + SEARCH_HZ) * n / rate))
        if low > high:
            found[name] = Tone(0.0, hz)
            continue
        k = low + int(np.argmax(spectrum[low:high + 1]))
        a, b, c = np.log(spectrum[k - 1:k + 2])
        denominator = a - 2 * b + c
        shift = 0.5 * (a - c) / denominator if denominator else 0.0
        peak = math.exp(b - 0.25 * (a - c) * shift)
        found[name] = Tone(float(peak * scale), float((k + shift) * rate / n))
    return found


def tone_levels(samples: np.ndarray, tones: dict[str, float],
                rate: int = SAMPLE_RATE) -> dict[str, float]:
    """``{name: amplitude}`` (fraction of full scale) of each person's known tone."""
    return {name: tone.amplitude for name, tone in find_tones(samples, tones, rate).items()}


def tone_amplitude(samples: np.ndarray, hz: float, rate: int = SAMPLE_RATE) -> float:
    """The amplitude of the tone at ``hz`` in ``samples``, as a fraction of full scale."""
    return tone_levels(samples, {"tone": hz}, rate)["tone"]


def relative_levels(levels: dict[str, float]) -> dict[str, float]:
    """Each level divided by the strongest (1.0 = as loud as the loudest voice in the mix)."""
    top = max(levels.values(), default=0.0)
    return {name: (value / top if top > 0 else 0.0) for name, value in levels.items()}


def voices_in_mix(samples: np.ndarray, tones: dict[str, float],
                  rate: int = SAMPLE_RATE) -> dict[str, float]:
    """``{name: Hz}`` for each known voice present in the mix (at least ``HEARD_FRACTION`` of
    the strongest, and the mix not silent), with the pitch measured near its known tone."""
    if samples.size < rate // 10 or level_dbfs(samples) < SILENCE_DBFS:
        return {}
    found = find_tones(samples, tones, rate)
    relative = relative_levels({name: tone.amplitude for name, tone in found.items()})
    return {name: round(found[name].hz, 2) for name, share in relative.items()
            if share >= HEARD_FRACTION}
