"""The delay between two loudness envelopes (talklab/browser/latency.py), without a network:
a beeping voice shifted by a known delay is found again; a steady tone is not timed."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from talklab.browser.latency import Envelope, clock_offset, delay, level_db

DATA = pathlib.Path(__file__).parent / "data"


def beeps(start: float, seconds: float, shift: float, noise_db: float = 0.0,
          seed: int = 1) -> Envelope:
    """An envelope of 20 ms frames: 200 ms beeps at irregular gaps, heard ``shift`` s late."""
    rng = np.random.default_rng(seed)
    on = np.zeros(int(seconds / 0.02), bool)
    i = 0
    gaps = np.random.default_rng(7).integers(10, 40, 100)
    for gap in gaps:
        on[i:i + 10] = True
        i += 10 + int(gap)
        if i >= on.size:
            break
    env = Envelope(seconds + 1)
    for k, loud in enumerate(on):
        env.add(start + shift + k * 0.02, (-20.0 if loud else -60.0) + rng.normal(0, noise_db))
    return env


@pytest.mark.parametrize("shift", [0.0, 0.085, 0.26, 0.7])
def test_a_known_delay_is_found_within_a_step(shift):
    sent = beeps(1000.0, 8, 0.0)
    received = beeps(1000.0, 8, shift, noise_db=2.0, seed=2)
    found = delay(sent, received)
    assert found is not None and abs(found.seconds - shift) <= 0.011, found
    assert found.correlation > 0.8


def voice(seconds: float, seed: int = 5) -> np.ndarray:
    """The loudness of a beeping voice, every 20 ms: 100 ms blocks on or off at random, as
    tests/test_microphone.py's voices beep."""
    return np.repeat(np.random.default_rng(seed).random(int(seconds * 10)) < 0.4, 5)


def test_a_delay_that_wanders_is_timed_by_its_middle():
    """Envelopes recorded in real JupyterLab and Chromium (tests/test_microphone.py's notebook)
    while the delay wandered between 0.4 and 0.7 s, from one second to the next: frames came
    in bursts and each side caught up. Pieces of two seconds timed neither leg there."""
    recorded = json.loads((DATA / "wandering-latency.json").read_text())

    def envelope(name: str) -> Envelope:
        env = Envelope(20)
        for t, level in recorded[name]:
            env.add(t, level)
        return env

    for sent, heard in (("captured", "ear"), ("voice", "played")):
        found = delay(envelope(sent), envelope(heard), max_lag=3.0, step=0.02)
        assert found is not None and 0.4 <= found.seconds <= 0.7, (sent, heard, found)


def test_a_steady_tone_or_too_little_is_not_timed():
    steady, late = Envelope(), Envelope()
    for k in range(300):
        steady.add(k * 0.02, -20.0)
        late.add(k * 0.02 + 0.1, -20.0)
    assert delay(steady, late) is None  # a flat line agrees with itself at every shift
    assert delay(beeps(0, 0.1, 0), beeps(0, 0.1, 0.05)) is None  # five frames


def test_a_beep_that_repeats_every_second_is_not_timed_a_period_off():
    """Half a second on, half off, heard 0.3 s late: 0.3, 1.3 and 2.3 s agree equally well, so
    with lags up to 3 s no delay is given rather than one a second wrong."""
    sent, late = Envelope(), Envelope()
    for k in range(500):
        loud = -20.0 if (k // 25) % 2 == 0 else -60.0
        sent.add(k * 0.02, loud)
        late.add(k * 0.02 + 0.3, loud)
    assert delay(sent, late, max_lag=3.0, step=0.02) is None
    found = delay(beeps(0, 10, 0), beeps(0, 10, 1.3), max_lag=3.0, step=0.02)
    assert found is not None and abs(found.seconds - 1.3) <= 0.02  # irregular beeps: timed


def test_unrelated_voices_are_not_given_a_delay():
    assert delay(beeps(0, 8, 0), _other(0, 8)) is None


def _other(start: float, seconds: float) -> Envelope:
    env = Envelope(seconds + 1)
    rng = np.random.default_rng(11)
    for k in range(int(seconds / 0.02)):
        env.add(start + k * 0.02, rng.choice([-20.0, -60.0]))
    return env


def test_an_envelope_is_bounded_and_levels_are_floored():
    env = Envelope(seconds=1.0)
    for k in range(10_000):
        env.add(k * 0.02, -200.0)
    assert len(env) == 50 and min(v for _, v in env.points) == -60.0
    assert level_db(np.zeros(960, np.int16)) == -60.0
    assert abs(level_db(np.full(960, 16384, np.int16)) - (-6.02)) < 0.01
    assert abs(level_db(np.full(960, 0.5, np.float32)) - (-6.02)) < 0.01


def test_the_clock_offset_is_taken_at_the_midpoint_of_the_round_trip():
    # their clock is 5 s behind ours; the ping took 40 ms each way
    offset, round_trip = clock_offset(sent=100.0, their_time=95.04, received=100.08)
    assert round_trip == pytest.approx(0.08) and offset == pytest.approx(5.0)
