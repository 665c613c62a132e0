"""Notebook 01 (getUserMedia): its self-checks, and its code exercise run live.

Each self-check accepts the right answer, hints at a wrong one without giving the answer away,
and explains a wrong-typed one. The exercise (``voice_frame``) is run with the answer key's
solution, live, and says "right"; with the stub, and with the usual mistakes, it says
"not yet" with a hint that names the mistake.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import answer_key

from talklab import check
from talklab.browser.media import FRAME_SAMPLES, FrameVoice
from talklab.check.media import SITUATIONS, judge_frames

answers = answer_key("01")


# (check, parameters, right answer, wrong answer, wrong-typed answer)
CASES = [
    (check.samples_per_frame, dict(rate=16_000, ms=10), 160, 16_000 * 10, "160"),
    (check.raw_kbps, {}, 768, 96, "768"),
    (check.raw_kbps, {}, 768, 768_000, 768.0),
    *[(check.which_error, dict(situation=s), expected,
       "NotFoundError" if expected != "NotFoundError" else "NotAllowedError", 404)
      for s, (expected, _) in SITUATIONS.items()],
]


@pytest.mark.parametrize("question,params,right,wrong,badly_typed", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_each_self_check_judges_hints_and_reveals(question, params, right, wrong, badly_typed):
    assert question(**params, answer=right)
    feedback = question(**params, answer=wrong)
    assert feedback.verdict == "not yet" and len(feedback.message) > 20
    assert str(right).lower() not in feedback.message.lower(), feedback.message
    typed = question(**params, answer=badly_typed)
    assert typed.verdict == "wrong type" and "takes" in typed.message
    assert str(right).lower() in check.reveal(question, **params).message.lower()


def test_the_notebooks_own_questions_have_the_key_s_answers():
    key = answers.SELF_CHECKS
    assert check.samples_per_frame(rate=16_000, ms=10, answer=key[
        "check.samples_per_frame(rate=16_000, ms=10)"])
    assert check.raw_kbps(answer=key["check.raw_kbps()"])
    for asked, expected in key.items():
        if asked.startswith("check.which_error"):
            situation = asked.split("'")[1]
            assert check.which_error(situation, answer=expected), asked


async def test_the_answer_key_speaks_in_a_live_room_and_is_heard():
    feedback = await check.voice_frame(answers.voice_frame)
    assert feedback.verdict == "right", feedback.message
    assert "523." in feedback.message


async def test_the_stub_is_not_yet():
    def voice_frame(pitch_hz, offset):
        raise NotImplementedError

    feedback = await check.voice_frame(voice_frame)
    assert feedback.verdict == "not yet" and "stub" in feedback.message


def sine(pitch, n, amplitude=0.3):
    return amplitude * np.sin(2 * np.pi * pitch * n / 48_000)


MISTAKES = {
    # restarts the sine at every frame: a click at every join
    "a click": (lambda p, o: sine(p, np.arange(960)), "does not start where"),
    "too long": (lambda p, o: sine(p, o + np.arange(1000)), "samples"),
    "too loud": (lambda p, o: sine(p, o + np.arange(960), amplitude=3), "-1 to 1"),
    "silent": (lambda p, o: np.zeros(960), "silent"),
    # walk2 01-8: a right sine at 0.01 was told its angle was wrong; it is too quiet
    "a whisper": (lambda p, o: sine(p, o + np.arange(960), amplitude=0.008), "How loud"),
    "no return": (lambda p, o: None, "returned nothing"),
    "one sample": (lambda p, o: 0.3 * np.sin(2 * np.pi * p * o / 48_000), "one number"),
    "not numbers": (lambda p, o: "la la la", "not a list of numbers"),
    "radians, not Hz": (lambda p, o: 0.3 * np.sin(p * (o + np.arange(960)) / 48_000), "Hz"),
    "a bug": (lambda p, o: 1 / 0, "ZeroDivisionError"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
async def test_each_usual_mistake_gets_a_hint_that_names_it(mistake):
    function, said = MISTAKES[mistake]
    feedback = await check.voice_frame(function)
    assert feedback.verdict == "not yet" and said in feedback.message, feedback.message
    assert "960 " not in feedback.message  # the frame's length is the learner's to work out


def test_frames_that_join_pass_offline_at_any_pitch():
    voice_frame = answers.voice_frame
    for pitch in (330.0, 440.0, 523.25, 1000.0):
        assert judge_frames(voice_frame, pitch) is None


def test_a_frame_voice_is_a_real_track_and_survives_a_broken_function():
    calls = []

    def frame(pitch, offset):
        calls.append(offset)
        if offset == FRAME_SAMPLES:
            raise ValueError("boom")
        return sine(pitch, offset + np.arange(FRAME_SAMPLES))

    voice = FrameVoice(frame, tone_hz=330)
    first, second, third = (voice.samples(FRAME_SAMPLES) for _ in range(3))
    assert calls == [0, FRAME_SAMPLES, 2 * FRAME_SAMPLES]  # offsets count samples
    assert first.dtype == np.int16 and np.abs(first).max() > 9000
    assert not second.any()  # silent, and says why
    assert voice.problem == "your function raised ValueError: boom"
    assert third.any() and voice.getSettings()["toneHz"] == 330


def test_an_async_frame_function_is_named_as_such_and_never_warns(recwarn):
    """walk2 01-8: the listening cell printed float()'s TypeError about a coroutine, and a
    RuntimeWarning (never awaited) reached stderr."""
    async def frame(pitch, offset):
        return sine(pitch, offset + np.arange(FRAME_SAMPLES))

    voice = FrameVoice(frame, tone_hz=330)
    assert not voice.samples(FRAME_SAMPLES).any()
    assert "`async def`" in (voice.problem or "") and "coroutine" in voice.problem
    import gc
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


async def test_an_async_voice_is_told_it_need_not_be_async():
    """An `async def voice_frame` was told to add an `await` it had nowhere to put."""
    async def voice_frame(pitch_hz, offset):
        return [0.0] * 960
    said = await check.voice_frame(voice_frame)
    assert not said and "written `async def`" in said.message, said.message


async def test_a_sine_whose_angle_never_moves_is_not_told_to_add_an_amplitude():
    import numpy as np

    def voice_frame(pitch_hz, offset):  # integer division: every sample is sin(0)
        n = np.arange(offset, offset + 960)
        return 0.3 * np.sin(2 * np.pi * pitch_hz * (n // 48_000))
    said = await check.voice_frame(voice_frame)
    assert not said and "angle" in said.message and "give the sine an amplitude" not in \
        said.message
