"""What a person hears, for the eye and the ear: waveform, spectrum, spectrogram and a player."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..media import SAMPLE_RATE


def draw_waveform(samples: np.ndarray, ax=None, title: str = "waveform"):
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2))
    t = np.arange(samples.size) / SAMPLE_RATE * 1000
    ax.plot(t, samples, lw=0.8, color="#7c3aed")
    ax.set_xlabel("ms")
    ax.set_ylabel("sample")
    ax.set_title(title, fontsize=10)
    return ax


def draw_spectrum(samples: np.ndarray, ax=None, title: str = "spectrum", max_hz: float = 2000):
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.2))
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
    keep = freqs <= max_hz
    ax.plot(freqs[keep], 20 * np.log10(spectrum[keep] + 1e-9), lw=0.8, color="#1e3a5f")
    ax.set_xlabel("Hz")
    ax.set_ylabel("dB")
    ax.set_title(title, fontsize=10)
    return ax


def draw_spectrogram(samples: np.ndarray, ax=None, title: str = "spectrogram",
                     max_hz: float = 2000):
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.4))
    ax.specgram(samples.astype(float), NFFT=2048, Fs=SAMPLE_RATE, noverlap=1024, cmap="magma")
    ax.set_ylim(0, max_hz)
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    ax.set_title(title, fontsize=10)
    return ax


def player(samples: np.ndarray):
    """An audio player for a recording (e.g. ``link.ear.recording()``)."""
    from IPython.display import Audio
    return Audio(samples.astype(np.float32) / 32768, rate=SAMPLE_RATE, normalize=False)
