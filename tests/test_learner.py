"""The learner's microphone and ears in the kernel (talklab/browser/learner.py), without a
page: what arrives is bounded, resampled, played after a prefill, and mixed."""

from __future__ import annotations

import numpy as np
import pytest

from talklab.browser.hearing import Ear, dominant_frequency
from talklab.browser.learner import (
    BACKLOG_SECONDS,
    PREFILL_SECONDS,
    CaptureBuffer,
    Mix,
    PageVoice,
)
from talklab.browser.media import SAMPLE_RATE


def tone(hz: float, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def frames(pcm: np.ndarray, rate: int):
    step = rate // 50
    for i in range(0, pcm.size - step + 1, step):
        yield pcm[i:i + step]


def test_a_page_that_sends_a_minute_at_once_leaves_one_second_in_the_kernel():
    buffer = CaptureBuffer(max_seconds=1.0)
    for frame in frames(tone(700, 60), SAMPLE_RATE):
        buffer.push(frame, SAMPLE_RATE)
    assert buffer.buffered == SAMPLE_RATE  # the newest second, no more
    assert buffer.dropped == 59 * SAMPLE_RATE and buffer.received == 60 * SAMPLE_RATE
    assert buffer._ring.nbytes == 2 * SAMPLE_RATE  # allocated once


def test_a_44_1_khz_page_arrives_at_48_khz_with_its_pitch():
    buffer = CaptureBuffer(max_seconds=2.0)
    for frame in frames(tone(700, 1.0, 44_100), 44_100):
        buffer.push(frame, 44_100)
    got = buffer.take(SAMPLE_RATE)
    assert abs(got.size - SAMPLE_RATE) < 0.02 * SAMPLE_RATE
    assert dominant_frequency(got) == pytest.approx(700, abs=2)
    assert buffer.rate == 44_100


@pytest.mark.parametrize("bad, rate, why", [
    (np.zeros(960, np.float32), 1_000_000, "not a microphone's"),
    (np.zeros((2, 480), np.float32), SAMPLE_RATE, "mono"),
    (np.zeros(SAMPLE_RATE * 2, np.float32), SAMPLE_RATE, "up to 1 s"),
])
def test_what_no_page_sends_is_refused_and_changes_nothing(bad, rate, why):
    buffer = CaptureBuffer()
    with pytest.raises(ValueError, match=why):
        buffer.push(bad, rate)
    assert buffer.buffered == 0 and buffer.frames == 0


def test_the_voice_waits_for_its_prefill_and_plays_silence_when_frames_are_late():
    buffer = CaptureBuffer()
    voice = PageVoice(buffer, prefill=0.06)
    buffer.push(tone(700, 0.02), SAMPLE_RATE)
    assert not voice.samples(960).any()  # 20 ms is not yet the 60 ms prefill
    buffer.push(tone(700, 0.04), SAMPLE_RATE)
    assert voice.samples(960).any() and voice.playing
    voice.samples(960)
    voice.samples(960)  # (the last of the 60 ms)
    assert voice.playing and voice.underruns == 0
    voice.samples(960)  # the buffer ran dry in this one
    assert voice.underruns == 1 and not voice.playing
    assert not voice.samples(960).any()  # and it waits for the prefill again


async def test_a_voice_refused_after_it_was_handed_out_ends_as_a_browsers_track_does():
    from aiortc.mediastreams import MediaStreamError
    told = []
    voice = PageVoice(CaptureBuffer(), on_stop=lambda: told.append(1))
    voice.refused = "NotAllowedError: Permission denied"
    with pytest.raises(MediaStreamError, match="refused the microphone"):  # (aiortc's senders
        await voice.recv()  # stop quietly on this one)
    assert voice.readyState == "ended" and told == []


def test_stopping_the_voice_tells_its_owner_once():
    told = []
    voice = PageVoice(CaptureBuffer(), on_stop=lambda: told.append(1))
    voice.stop()
    voice.stop()
    assert told == [1] and voice.readyState == "ended"


class Frame:
    """What aiortc's decoder hands an ear: an s16 frame (mono here)."""

    def __init__(self, samples: np.ndarray) -> None:
        self._samples = samples
        self.layout = type("Layout", (), {"channels": [0]})()

    def to_ndarray(self) -> np.ndarray:
        return self._samples.reshape(1, -1)


def test_the_mix_is_every_call_summed_frame_by_frame():
    alice, bob, mix = Ear(), Ear(), Mix()
    mix.frame([alice, bob])  # (from now on)
    for a, b in zip(frames(tone(440, 1.0), SAMPLE_RATE), frames(tone(550, 1.0), SAMPLE_RATE),
                    strict=True):
        alice.feed(Frame((a * 32767).astype(np.int16)))
        bob.feed(Frame((b * 32767).astype(np.int16)))
    heard = np.concatenate([mix.frame([alice, bob]) for _ in range(50)])
    spectrum = np.abs(np.fft.rfft(heard))
    strongest = sorted(np.argsort(spectrum)[-2:])
    assert [round(b * SAMPLE_RATE / heard.size) for b in strongest] == [440, 550]


def test_a_page_that_falls_behind_costs_the_mix_at_most_its_backlog():
    ear, mix = Ear(), Mix(max_seconds=0.5)
    mix.frame([ear])
    for _ in range(250):  # 5 s arrive while nobody takes any
        ear.feed(Frame(np.ones(960, np.int16)))
    mix.frame([ear])
    # what waits is bounded by the backlog (0.2 s: heard late otherwise), under max_seconds
    assert mix.dropped == (5 - BACKLOG_SECONDS) * SAMPLE_RATE
    assert sum(p.size for p in mix._pending.values()) <= BACKLOG_SECONDS * SAMPLE_RATE


def test_a_voice_that_falls_behind_drops_its_oldest_audio_to_catch_up():
    buffer = CaptureBuffer(max_seconds=1.0)
    voice = PageVoice(buffer)
    buffer.push(np.full(48_000, 0.25, np.float32), 48_000)  # a second arrives at once
    first = voice.samples(960)
    # more than the backlog waited: it drops back to the prefill (60 ms), not a second late
    assert voice.trimmed == 48_000 - int(PREFILL_SECONDS * 48_000) and first.size == 960
    assert buffer.buffered == int(PREFILL_SECONDS * 48_000) - 960
    buffer.push(np.full(int(BACKLOG_SECONDS * 48_000), 0.25, np.float32), 48_000)
    voice.samples(960)  # within the backlog: nothing more is dropped
    assert voice.trimmed == 48_000 - int(PREFILL_SECONDS * 48_000)


async def test_a_voice_refused_while_read_is_the_browsers_error_and_a_track_that_ended():
    from talklab.browser.media import NotAllowedError, TrackEnded
    voice = PageVoice(CaptureBuffer())
    voice.refused = "NotAllowedError: Permission denied"
    try:
        await voice.recv()
    except NotAllowedError as error:  # what a notebook cell catches
        assert isinstance(error, TrackEnded)  # what stops a person's sender quietly
        assert "refused the microphone" in str(error)
    else:
        raise AssertionError("a refused voice gave a frame")
    assert voice.readyState == "ended"
