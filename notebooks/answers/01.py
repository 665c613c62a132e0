"""The teacher's answer key for 01-getusermedia: the exercise's solution, the predictions and
the self-checks."""

import numpy as np


def voice_frame(pitch_hz, offset):
    """One 20 ms frame of a steady voice at pitch_hz: numbers from -1 to 1, the first of them
    being sample number `offset` of the voice (so that consecutive frames join smoothly)."""
    n = offset + np.arange(960)  # the voice's own sample numbers, not the frame's
    return 0.3 * np.sin(2 * np.pi * pitch_hz * n / 48_000)


PREDICTIONS = {
    "samples_in_a_frame": 960,  # 48,000 samples a second x 0.020 s
    "error_guess": "OverconstrainedError",  # channelCount {exact: 2} of mono sources
    "browser_track_rate": 48_000,  # the page's frames are resampled to 48 kHz in the kernel
}

SELF_CHECKS = {
    "check.samples_per_frame(rate=16_000, ms=10)": 160,
    "check.raw_kbps()": 768,  # 48,000 x 16 bits x 1 channel = 768,000 bits a second
    "check.which_error('a school laptop whose policy forbids microphones on every page')":
        "NotAllowedError",
    "check.which_error('the user clicked Block last week, and the browser remembered')":
        "NotAllowedError",
}
