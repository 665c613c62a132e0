"""Notebook 01's self-checks and code exercise: getUserMedia, frames, and a voice of your own.

* :func:`which_error`: which of the browser's errors a situation raises (or none);
* :func:`raw_kbps`: what uncompressed voice costs, worked out from the rate and sample size;
* :func:`voice_frame`: the exercise. You write the synthetic voice itself, one 20 ms frame at
  a time; talklab makes it a real track (:class:`talklab.browser.media.FrameVoice`), a person in
  a live lab speaks with it, another listens through Opus, and the check judges what was *heard*.

Tested in tests/test_exercises_01.py (notebook 01's self-checks, and its exercise run live with
the answer key, the stub and the usual mistakes) and tests/test_check.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from talklab.browser.hearing import dominant_frequency
from talklab.browser.media import FRAME_SAMPLES, SAMPLE_RATE, FrameVoice, MediaStream
from talklab.check.exercise import STUB, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, OneOf, Spec, Whole, question

__all__ = ["raw_kbps", "voice_frame", "which_error"]

NO_ERROR = "none"
SITUATIONS = {
    "a desktop with no sound card at all": (
        "NotFoundError", "nothing of the kind asked for exists, so there is nothing to ask "
        "permission for."),
    "the user clicked Block last week, and the browser remembered": (
        "NotAllowedError", "a microphone exists; a remembered 'no' is still the user's no, "
        "given before the page asked."),
    "a school laptop whose policy forbids microphones on every page": (
        "NotAllowedError", "a policy saying no is refused permission too, whoever decided it."),
    "channelCount {exact: 2} asked of a mono microphone": (
        "OverconstrainedError", "the device exists and may be used, but cannot meet a "
        "required (exact) constraint."),
    "sampleRate 44100 asked (a plain value) of a 48 kHz microphone": (
        NO_ERROR, "a plain value is only a preference: the browser gives the nearest it has "
        "(48 kHz) and says so in getSettings(). Only {exact: ...} can fail."),
}


@question(OneOf(["NotFoundError", "NotAllowedError", "OverconstrainedError", NO_ERROR], exact=True))
def which_error(situation: str) -> Spec:
    """Which error does ``getUserMedia({audio: ...})`` raise in ``situation``? (the error's
    name, or ``"none"`` when it succeeds)"""
    if situation not in SITUATIONS:
        raise ValueError(f"situation is one of: {'; '.join(SITUATIONS)}")
    expected, why = SITUATIONS[situation]
    return Spec(expected, why,
                "ask three things in order: is there a device of that kind at all? may the "
                "page use it (the user, or a policy)? can it do what was *required*? And is "
                "a plain value required, or only preferred?")


@question(Whole())
def raw_kbps(rate: int = SAMPLE_RATE, bits: int = 16, channels: int = 1) -> Spec:
    """How many kilobits a second does uncompressed voice take at ``rate`` Hz, ``bits``-bit
    samples, ``channels`` channel(s)? (1 kbit = 1000 bits)"""
    expected = rate * bits * channels // 1000

    def hint(given: Any) -> str:
        if given == expected // 8:
            return "that is kilobytes a second; the question asks for kilobits (8 in a byte)."
        if given == rate * bits * channels:
            return "that is bits a second; the question asks for kilobits (1000 bits each)."
        return ("a second holds `rate` samples per channel, each `bits` bits long: multiply, "
                "then turn bits into kilobits.")
    return Spec(expected, f"{rate} samples/s × {bits} bits × {channels} = {expected} kbit/s, "
                "about 24 times what Opus sends for a voice (32 kbit/s here).", hint)


# -- the exercise: a voice of your own ----------------------------------------------------------
CHECK_PITCH = 523.25  # C5: 10.465 cycles per frame, so a sine restarted every frame clicks
OFFLINE_FRAMES = 10
TOLERANCE_HZ = 2.0


def _frames(function: Any, pitch: float, count: int) -> tuple[list[np.ndarray], str | None]:
    """Call ``function`` for ``count`` consecutive frames; the frames, or what is wrong."""
    frames: list[np.ndarray] = []
    for k in range(count):
        offset = k * FRAME_SAMPLES
        values = function(pitch, offset)
        if values is None:
            return frames, ("your function returned nothing (None): end it with `return` and "
                            "the frame's samples.")
        try:
            frame = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return frames, (f"your function returned {type(values).__name__}, which is not a "
                            "list of numbers: return a numpy array (or a list) of samples.")
        if frame.size == 1:
            return frames, ("your function returned one number, not a frame of them: a frame "
                            "holds sample offset, offset + 1, offset + 2, ... of the voice. "
                            "Compute them all at once (numpy works on a whole array).")
        if frame.size != FRAME_SAMPLES:
            return frames, (f"frame {k + 1} has {frame.size} samples; a frame lasts 20 ms at "
                            f"{SAMPLE_RATE} samples a second: how many is that?")
        if not np.all(np.isfinite(frame)):
            return frames, f"frame {k + 1} holds NaN or infinite values."
        frames.append(frame)
    return frames, None


def judge_frames(function: Any, pitch: float = CHECK_PITCH) -> str | None:
    """What is wrong with ``function``'s frames before any network is involved (``None``:
    nothing). Length, range, silence, clicks between frames, and pitch."""
    frames, problem = _frames(function, pitch, OFFLINE_FRAMES)
    if problem:
        return problem
    peak = max(float(np.max(np.abs(f))) for f in frames)
    if peak > 1.0:
        return (f"your samples reach {peak:.2f}; they must stay from -1 to 1 (full scale), "
                "or they are clipped: multiply your sine by an amplitude such as 0.3.")
    if peak < 0.01:
        whole = np.concatenate(frames)
        quiet = dominant_frequency((whole / peak * 0.3 * 32767).astype(np.int16)) \
            if peak > 1e-5 else None
        if quiet is not None and abs(quiet - pitch) <= TOLERANCE_HZ:
            return (f"your frames are a sine at {pitch:g} Hz, but a whisper: they never go "
                    f"past {peak:.3f} of full scale (about {20 * np.log10(peak):.0f} dBFS: "
                    "decibels below full scale). How loud does the exercise ask the voice to "
                    "be?")
        return ("your frames are (almost) silent: every sample is close to 0. A sine as loud as "
                "0.3 swings between -0.3 and 0.3 only if its angle changes from one sample to "
                "the next: print a few of your angles (or times) for one frame.")
    within = max(float(np.max(np.abs(np.diff(f)))) for f in frames)
    for k in range(1, len(frames)):
        jump = abs(frames[k][0] - frames[k - 1][-1])
        if jump > 1.5 * within + 1e-3:
            return (f"frame {k + 1} does not start where frame {k} ended: the voice jumps by "
                    f"{jump:.3f} between them (within a frame it never moves more than "
                    f"{within:.3f} from one sample to the next). That jump is a click, 50 times "
                    "a second. Sample i of a frame is sample offset + i of the voice: compute "
                    "its time from that, not from i alone.")
    heard = dominant_frequency((np.concatenate(frames) * 32767).astype(np.int16))
    if heard is None or abs(heard - pitch) > TOLERANCE_HZ:
        said = "no pitch at all" if heard is None else f"{heard:.1f} Hz"
        return (f"asked for {pitch:g} Hz, your frames have {said}: a sine of frequency f at "
                "time t seconds is sin(2π·f·t), and sample n is at t = n / 48000.")
    return None


async def voice_frame(function: Any, pitch_hz: float = CHECK_PITCH) -> Feedback:
    """Your ``voice_frame(pitch_hz, offset)``, spoken by a person in a live lab and heard by
    another through Opus: right when the listener hears ``pitch_hz`` (within 2 Hz) from frames
    of the right length that join without a click."""
    return await run(function, lambda f: _live(f, pitch_hz), name="voice_frame")


STUB_HINT = (" A start: which sample of the whole voice is the first of this frame, and at "
             "what time, in seconds, does each sample of the frame play? A voice of one pitch "
             "is a sine wave of that pitch over time, as loud as the exercise says.")


async def _live(function: Any, pitch: float) -> Feedback:
    try:
        problem = judge_frames(function, pitch)
    except NotImplementedError:
        return Feedback(NOT_YET, STUB + STUB_HINT)
    if problem:
        return Feedback(NOT_YET, problem)
    from talklab.lab.lab import Lab

    async with Lab() as lab:
        voice = FrameVoice(function, pitch)
        await lab.join("You", stream=MediaStream([voice]), voice=True)
        listener = await lab.join("Listener", voice=True)
        await lab.wait_connected()
        await listener.wait_heard(1.5)
        heard = listener.hears(1.0).get("You")
        if voice.problem:
            return Feedback(NOT_YET, f"in the live room, a frame of yours went wrong: "
                            f"{voice.problem}")
    if heard is None or abs(heard - pitch) > TOLERANCE_HZ:
        said = "silence" if heard is None else f"{heard:.2f} Hz"
        return Feedback(NOT_YET, f"your frames looked right, but the listener heard {said} "
                        f"instead of {pitch:g} Hz: does your function depend on anything but "
                        "its two arguments?")
    return Feedback(RIGHT, f"the listener heard {heard:.2f} Hz through Opus (you sent "
                    f"{pitch:g} Hz), from frames of the right length that join without a "
                    "click: a microphone of your own, in a live call.")
