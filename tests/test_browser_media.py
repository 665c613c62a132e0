"""getUserMedia: the synthetic voice, audio files, and the browser's errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_tone

import talklab
from talklab.browser import media
from talklab.browser.hearing import dominant_frequency


async def collect(track, frames: int) -> np.ndarray:
    return np.concatenate([(await track.recv()).to_ndarray().reshape(-1) for _ in range(frames)])


async def test_synthetic_voice_is_the_default():
    stream = await talklab.get_user_media(audio=True, tone_hz=523.0)
    (track,) = stream.get_audio_tracks()
    assert stream.getAudioTracks() == [track] and stream.active
    assert track.kind == "audio" and track.readyState == "live"
    settings = track.getSettings()
    assert settings["sampleRate"] == 48_000 and settings["channelCount"] == 1
    assert settings["source"] == "synthetic" and settings["toneHz"] == 523.0
    first = await track.recv()
    assert (first.sample_rate, first.samples, first.format.name, first.layout.name) == \
        (48_000, 960, "s16", "mono")
    second = await track.recv()
    assert second.pts == first.pts + 960  # 20 ms later, in 1/48000 s units
    samples = await collect(track, 25)  # half a second
    assert dominant_frequency(samples) == pytest.approx(523.0, abs=0.1)
    stream.stop()
    assert track.readyState == "ended" and not stream.active


async def test_a_wav_file_is_resampled_to_48k_and_looped(tmp_path):
    path = tmp_path / "voice.wav"
    write_tone(path, 330.0, seconds=0.3, rate=16_000)
    stream = await talklab.get_user_media(source=path)
    track = stream.audio
    assert track.getSettings()["source"] == "file" and track.label == "voice.wav"
    samples = await collect(track, 40)  # 0.8 s: longer than the file, so it loops
    assert samples.size == 40 * 960
    assert dominant_frequency(samples) == pytest.approx(330.0, abs=1.0)
    stream.stop()


async def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(talklab.NotFoundError):
        await talklab.get_user_media(source=tmp_path / "nope.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(talklab.NotFoundError):
        await talklab.get_user_media(source=tmp_path / "text.wav")


async def test_no_microphone_gives_not_found(monkeypatch):
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setattr(media.glob, "glob", lambda pattern: [])
    assert media.find_microphone() is None
    assert [d["deviceId"] for d in talklab.enumerate_devices()] == ["synthetic"]
    with pytest.raises(talklab.NotFoundError, match="no microphone") as err:
        await talklab.get_user_media(source="microphone")
    assert err.value.name == "NotFoundError"


async def test_permission_refused_is_not_allowed():
    asked = []

    async def prompt(label):
        asked.append(label)
        return False

    with pytest.raises(talklab.NotAllowedError):
        await talklab.get_user_media(permission=prompt)
    assert asked == ["the synthetic voice"]
    with pytest.raises(talklab.NotAllowedError):
        await talklab.get_user_media(permission=False)
    assert (await talklab.get_user_media(permission=lambda label: True)).active


@pytest.mark.parametrize("constraints,name", [
    ({"sampleRate": {"exact": 44_100}}, "sampleRate"),
    ({"channelCount": {"exact": 2}}, "channelCount"),
    ({"sampleSize": {"exact": 24}}, "sampleSize"),
])
async def test_impossible_constraints_are_overconstrained(constraints, name):
    with pytest.raises(talklab.OverconstrainedError) as err:
        await talklab.get_user_media(audio=constraints)
    assert err.value.constraint == name


async def test_preferences_are_not_requirements():
    stream = await talklab.get_user_media(audio={"sampleRate": 44_100, "channelCount": 2})
    assert stream.audio.getSettings()["sampleRate"] == 48_000


async def test_bad_requests():
    with pytest.raises(TypeError):
        await talklab.get_user_media(audio=False)
    with pytest.raises(TypeError):
        await talklab.get_user_media(audio={"volume": 1})
    with pytest.raises(talklab.NotFoundError):
        await talklab.get_user_media(audio=True, video=True)
    with pytest.raises(talklab.OverconstrainedError):
        await talklab.get_user_media(tone_hz=5)


async def test_a_stopped_track_says_it_has_ended_and_what_to_run():
    """01's cell re-run after the closing cell raised a bare MediaStreamError with no message."""
    from aiortc.mediastreams import MediaStreamError

    from talklab.browser.media import TrackEnded
    stream = await talklab.get_user_media()
    stream.stop()
    with pytest.raises(TrackEnded) as ended:
        await stream.audio.recv()
    assert isinstance(ended.value, MediaStreamError)  # (aiortc's senders stop on it)
    assert "has ended" in str(ended.value) and "again" in str(ended.value)
