"""Pitch and level measurement, and the ear's memory, without any network."""

import math

import av
import numpy as np
import pytest

from talklab.browser.hearing import Ear, dominant_frequency, level_dbfs


def tone(hz, seconds=1.0, rate=48_000, amp=0.3):
    t = np.arange(int(rate * seconds)) / rate
    return (amp * 32767 * np.sin(2 * math.pi * hz * t)).astype(np.int16)


def test_pitch_resolves_tones_three_hz_apart():
    assert dominant_frequency(tone(440.0)) == pytest.approx(440.0, abs=0.05)
    assert dominant_frequency(tone(443.0)) == pytest.approx(443.0, abs=0.05)
    assert dominant_frequency(tone(1234.5)) == pytest.approx(1234.5, abs=0.05)


def test_silence_has_no_pitch():
    assert dominant_frequency(np.zeros(48_000, np.int16)) is None
    assert level_dbfs(np.zeros(10, np.int16)) == -math.inf
    assert level_dbfs(tone(440)) == pytest.approx(20 * math.log10(0.3 / math.sqrt(2)), abs=0.1)


def stereo_frame(samples):
    data = np.repeat(samples, 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    return frame


def test_ear_keeps_the_last_seconds_and_wraps():
    ear = Ear(seconds=0.5)
    signal = tone(660.0, seconds=1.2)
    for i in range(0, signal.size, 960):
        ear.feed(stereo_frame(signal[i:i + 960]))
    assert ear.frames == 60 and ear.heard
    assert np.array_equal(ear.recording(0.1), signal[-4800:])
    assert np.array_equal(ear.recording(), signal[-24_000:])
    assert ear.pitch(0.5) == pytest.approx(660.0, abs=0.1)
