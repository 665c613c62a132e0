"""Step 1 of the seed, getUserMedia: where a person's voice comes from.

In the seed, Dave's browser calls ``navigator.mediaDevices.getUserMedia({ audio: true })`` and
gets a ``MediaStream`` with one audio track. :func:`get_user_media` is the same call for a
notebook kernel, which usually has no microphone (Binder has none), so the default source is a
*synthetic voice*: a steady tone at a frequency of the person's own, produced in real time as
48 kHz, 20 ms frames, exactly what a microphone would deliver. A tone is also what makes
"who hears whom" provable: each listener can measure which frequencies arrive.

Other sources: a WAV (or any audio file PyAV decodes), and a real microphone through PyAV when
the machine has one. Failures raise the browser's errors (W3C Media Capture and Streams, 9.x):
:class:`NotFoundError` (no such device), :class:`NotAllowedError` (permission refused),
:class:`OverconstrainedError` (constraints no source can meet).
"""

from __future__ import annotations

import asyncio
import fractions
import glob
import inspect
import math
import os
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talklab.browser.latency import Envelope
from talklab.notebook import Sentence, made_by

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, Opus's usual frame
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
DEFAULT_TONE_HZ = 440.0
# One tone per person, 110 Hz apart: easy to tell apart by ear and by FFT.
TONES = (440.0, 550.0, 660.0, 770.0, 880.0, 990.0, 1100.0, 1210.0, 1320.0, 1430.0)


def free_tone(taken: Iterable[float | None]) -> float:
    """The first of :data:`TONES` nobody ``taken`` has (the room's next voice); past ten
    people, tones repeat."""
    taken = list(taken)
    used = set(taken)
    return next((t for t in TONES if t not in used), TONES[len(taken) % len(TONES)])


def tone_for_name(name: str) -> float:
    """A tone chosen from a name alone, the same in every kernel (a class's students choose
    without knowing each other's)."""
    return TONES[zlib.crc32(name.encode()) % len(TONES)]
AMPLITUDE = 0.3  # of full scale: loud enough to measure, far from clipping


class MediaError(Exception):
    """Base of the browser's getUserMedia errors; ``name`` is the DOMException name."""

    name = "Error"

    def __str__(self) -> str:
        return f"{self.name}: {super().__str__()}"


class NotFoundError(MediaError):
    """No source of the requested kind exists (no microphone on this machine)."""

    name = "NotFoundError"


class NotAllowedError(MediaError):
    """The user (or the page's policy) refused permission to use the source."""

    name = "NotAllowedError"


class OverconstrainedError(MediaError):
    """No source can satisfy a required constraint; ``constraint`` names which."""

    name = "OverconstrainedError"

    def __init__(self, constraint: str, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


# -- tracks ----------------------------------------------------------------------------------
class TrackEnded(Sentence, MediaStreamError):
    """``recv()`` on a track that has ended (aiortc's senders stop on MediaStreamError)."""


class AudioTrack(MediaStreamTrack):
    """A live audio track producing mono s16 frames of 20 ms at 48 kHz, paced in real time.

    Subclasses say where samples come from (:meth:`samples`); this class keeps the clock. If the
    track is not read for a while (nobody in voice yet), it skips ahead instead of bursting the
    frames it "missed", as a real microphone would.
    """

    kind = "audio"
    source = "audio"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.made_by: str | None = None  # in a notebook, the cell that called getUserMedia
        self._pts = 0
        self._start: float | None = None
        # the loudness of each frame as it leaves, while someone measures a delay from it
        # (talklab.browser.latency); None costs nothing
        self.envelope: Envelope | None = None

    def samples(self, n: int) -> np.ndarray:
        """The next ``n`` samples as int16."""
        raise NotImplementedError

    def get_settings(self) -> dict:
        """What the browser's ``track.getSettings()`` would report."""
        return {"deviceId": self.source, "label": self.label, "sampleRate": SAMPLE_RATE,
                "sampleSize": 16, "channelCount": 1, "source": self.source}

    getSettings = get_settings  # the browser's spelling

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise TrackEnded(f"this {self.kind} track ({self.label}) has ended: it was stopped, "
                             "as a browser's microphone is when its page lets it go. Run the "
                             f"cell with {self.made_by or 'the getUserMedia call'} again for a "
                             "live one.")
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._pts / SAMPLE_RATE
        if now - due > 0.2:  # fell behind (not read for a while): skip ahead, do not burst
            self._start = now - self._pts / SAMPLE_RATE
            due = now
        if due > now:
            await asyncio.sleep(due - now)
        samples = self.samples(FRAME_SAMPLES)
        if self.envelope is not None:  # (at the frame's time on the track's own clock, on the
            # wall clock: when the loop is late to ask, the frame was still "said" on time)
            self.envelope.add_samples(time.time() - (time.monotonic() - due), samples)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME_SAMPLES
        return frame

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} {self.readyState}>"


class SyntheticVoice(AudioTrack):
    """A steady sine tone: the microphone of a person with a perfectly steady voice."""

    source = "synthetic"

    def __init__(self, tone_hz: float = DEFAULT_TONE_HZ, amplitude: float = AMPLITUDE) -> None:
        if not 20 <= tone_hz <= 20_000:
            raise OverconstrainedError("tone_hz", f"tone must be 20-20000 Hz, got {tone_hz}")
        super().__init__(label=f"Synthetic voice ({tone_hz:g} Hz)")
        self.tone_hz = float(tone_hz)
        self.amplitude = amplitude
        self._phase = 0.0

    def get_settings(self) -> dict:
        return {**super().get_settings(), "toneHz": self.tone_hz}

    getSettings = get_settings

    def samples(self, n: int) -> np.ndarray:
        step = 2 * math.pi * self.tone_hz / SAMPLE_RATE
        phases = self._phase + step * np.arange(n)
        self._phase = float((phases[-1] + step) % (2 * math.pi))
        return (np.sin(phases) * (self.amplitude * 32767)).astype(np.int16)


class FrameVoice(AudioTrack):
    """A voice made by a function of yours: ``frame(pitch_hz, offset)`` returns one 20 ms frame,
    960 numbers from -1 to 1, whose first sample is sample number ``offset`` of the voice (so
    that consecutive frames join smoothly). talklab calls it once per frame, in real time, and
    turns the numbers into 16-bit samples, as a microphone's driver would.

    A function that raises, or returns the wrong number of samples, makes the track silent for
    that frame; :attr:`problem` says what went wrong (the track must keep its clock)."""

    source = "synthetic"

    def __init__(self, frame: Callable[[float, int], Any],
                 tone_hz: float = DEFAULT_TONE_HZ) -> None:
        super().__init__(label=f"your voice ({tone_hz:g} Hz)")
        self.frame = frame
        self.tone_hz = float(tone_hz)
        self.offset = 0  # the number of the next frame's first sample
        self.problem: str | None = None

    def get_settings(self) -> dict:
        return {**super().get_settings(), "toneHz": self.tone_hz}

    getSettings = get_settings

    def samples(self, n: int) -> np.ndarray:
        offset, self.offset = self.offset, self.offset + n
        try:
            returned = self.frame(self.tone_hz, offset)
            if inspect.iscoroutine(returned):  # an `async def`: nothing ran, and nothing will
                returned.close()
                self.problem = ("your function is written `async def`: it returns a coroutine, "
                                "not the frame's samples")
                return np.zeros(n, np.int16)
            values = np.asarray(returned, dtype=np.float64).reshape(-1)
        except Exception as exc:  # the learner's code: a silent frame, and why
            self.problem = "your function raised " + type(exc).__name__ + (
                f": {exc}" if str(exc) else "")
            return np.zeros(n, np.int16)
        if values.size != n:
            self.problem = ("your function returned one number, not a frame of them"
                            if values.size == 1 else
                            f"your function returned a frame of {values.size} samples, not {n}")
            return np.zeros(n, np.int16)
        return (np.clip(np.nan_to_num(values), -1.0, 1.0) * 32767).astype(np.int16)


class FileVoice(AudioTrack):
    """An audio file (WAV, or anything PyAV decodes), resampled to 48 kHz mono, looped."""

    source = "file"

    def __init__(self, path: str | os.PathLike, loop: bool = True) -> None:
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"no audio file at {path}")
        super().__init__(label=path.name)
        self.path, self.loop = path, loop
        self._data = _decode_file(path)
        if self._data.size == 0:
            raise NotFoundError(f"{path} holds no audio")
        self._pos = 0

    def get_settings(self) -> dict:
        return {**super().get_settings(), "file": str(self.path)}

    getSettings = get_settings

    def samples(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n:
            if self._pos >= self._data.size:
                if not self.loop:
                    break
                self._pos = 0
            take = min(n - filled, self._data.size - self._pos)
            out[filled:filled + take] = self._data[self._pos:self._pos + take]
            filled += take
            self._pos += take
        return out


def _decode_file(path: Path, max_seconds: float = 300) -> np.ndarray:
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise NotFoundError(f"cannot read {path} as audio: {exc}") from None
    with container:
        if not container.streams.audio:
            raise NotFoundError(f"{path} has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks, total = [], 0
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if total > max_seconds * SAMPLE_RATE:
                break
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


class MicrophoneVoice(AudioTrack):
    """A real microphone, read by PyAV (ALSA or PulseAudio) in a thread."""

    source = "microphone"

    def __init__(self, device: str, fmt: str) -> None:
        super().__init__(label=f"Microphone ({fmt}:{device})")
        try:
            self._container = av.open(device, format=fmt)
        except (av.FFmpegError, OSError) as exc:
            raise NotFoundError(f"cannot open microphone {fmt}:{device}: {exc}") from None
        self._buffer = np.zeros(0, np.int16)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in self._container.decode(audio=0):
                if self.readyState != "live":
                    break
                for out in resampler.resample(frame):
                    with self._lock:
                        self._buffer = np.concatenate([self._buffer[-SAMPLE_RATE:],
                                                       out.to_ndarray().reshape(-1)])
        except av.FFmpegError:
            pass

    def samples(self, n: int) -> np.ndarray:
        with self._lock:
            got, self._buffer = self._buffer[:n], self._buffer[n:]
        return np.pad(got, (0, n - got.size)).astype(np.int16)

    def stop(self) -> None:
        super().stop()
        self._container.close()


# -- the stream and the call -----------------------------------------------------------------
class MediaStream:
    """The browser's MediaStream: an id and its tracks (talklab's have one audio track)."""

    def __init__(self, tracks: list[MediaStreamTrack]) -> None:
        self.id = str(uuid.uuid4())
        self._tracks = list(tracks)

    def get_tracks(self) -> list[MediaStreamTrack]:
        return list(self._tracks)

    def get_audio_tracks(self) -> list[MediaStreamTrack]:
        return [t for t in self._tracks if t.kind == "audio"]

    getTracks = get_tracks
    getAudioTracks = get_audio_tracks

    @property
    def audio(self) -> AudioTrack:
        """The (first) audio track."""
        track = self.get_audio_tracks()[0]
        assert isinstance(track, AudioTrack)
        return track

    def stop(self) -> None:
        """Stop every track (the browser's ``stream.getTracks().forEach(t => t.stop())``)."""
        for track in self._tracks:
            track.stop()

    @property
    def active(self) -> bool:
        return any(t.readyState == "live" for t in self._tracks)

    def __repr__(self) -> str:
        return f"<MediaStream {self.id[:8]} {self._tracks}>"


Permission = bool | Callable[[str], bool | Awaitable[bool]]


async def get_user_media(audio: bool | dict = True, video: bool | dict = False, *,
                         source: str | os.PathLike = "synthetic",
                         tone_hz: float = DEFAULT_TONE_HZ,
                         permission: Permission = True) -> MediaStream:
    """The browser's ``navigator.mediaDevices.getUserMedia``, for a notebook kernel.

    ``audio`` is ``True`` or a constraints dict (``sampleRate``, ``channelCount``, ``deviceId``;
    a plain value is a preference, ``{"exact": v}`` a requirement, as in the browser).
    ``source`` picks the device: ``"synthetic"`` (a tone at ``tone_hz``, the default: needs no
    hardware), ``"microphone"``, or a path to an audio file. ``permission`` is the user's answer
    to the browser's prompt: ``True``, ``False``, or a function asked with the device label
    (it may be async, e.g. a notebook widget with Allow / Block buttons).
    """
    if not audio and not video:
        raise TypeError("getUserMedia needs audio or video to be requested")
    if video:
        raise NotFoundError("talklab has no camera: request audio only")
    constraints = audio if isinstance(audio, dict) else {}
    _check_constraints(constraints)
    label = _describe(source)
    allowed = permission(label) if callable(permission) else permission
    if inspect.isawaitable(allowed):
        allowed = await allowed
    if not allowed:
        raise NotAllowedError(f"permission to use {label} was denied")
    track = _open(source, tone_hz)
    track.made_by = made_by()
    return MediaStream([track])


def _exact(value: Any) -> Any:
    return value.get("exact") if isinstance(value, dict) else None


def _check_constraints(c: dict) -> None:
    known = {"sampleRate", "channelCount", "deviceId", "sampleSize", "echoCancellation",
             "noiseSuppression", "autoGainControl"}
    unknown = set(c) - known
    if unknown:
        raise TypeError(f"unknown audio constraints: {sorted(unknown)}")
    if _exact(c.get("sampleRate")) not in (None, SAMPLE_RATE):
        raise OverconstrainedError("sampleRate", f"only {SAMPLE_RATE} Hz is available")
    if _exact(c.get("channelCount")) not in (None, 1):
        raise OverconstrainedError("channelCount", "sources are mono (channelCount 1)")
    if _exact(c.get("sampleSize")) not in (None, 16):
        raise OverconstrainedError("sampleSize", "samples are 16-bit")


def _describe(source: str | os.PathLike) -> str:
    if source == "synthetic":
        return "the synthetic voice"
    if source == "microphone":
        return "your microphone"
    return f"the file {Path(source).name}"


def _open(source: str | os.PathLike, tone_hz: float) -> AudioTrack:
    if source == "synthetic":
        return SyntheticVoice(tone_hz)
    if source == "microphone":
        device = find_microphone()
        if device is None:
            raise NotFoundError("Requested device not found: this machine has no microphone")
        return MicrophoneVoice(*device)
    return FileVoice(source)


def find_microphone() -> tuple[str, str] | None:
    """``(device, format)`` for PyAV if this machine has a capture device, else ``None``."""
    if os.environ.get("PULSE_SERVER") or glob.glob("/run/user/*/pulse/native"):
        return "default", "pulse"
    if glob.glob("/dev/snd/pcmC*D*c"):  # an ALSA capture device
        return "default", "alsa"
    return None


def enumerate_devices() -> list[dict]:
    """The browser's ``enumerateDevices()``: what audio inputs exist here."""
    devices = [{"kind": "audioinput", "deviceId": "synthetic", "label": "Synthetic voice"}]
    if find_microphone():
        devices.append({"kind": "audioinput", "deviceId": "microphone", "label": "Microphone"})
    return devices
