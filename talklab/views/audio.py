"""What a person hears, for the eye and the ear: waveform, spectrum, spectrogram and players.

Each drawing is an SVG :class:`~talklab.views.drawing.Drawing`. A recording's first few frames
hold the decoder's start-up (Opus fades in): :func:`draw_spectrogram` says so in its title and
can skip them (``skip``), so a "steady 440 Hz line" really is one.

Tested in tests/test_notebooks.py (notebooks 00, 01 and 06 draw a spectrogram, a spectrum or a
waveform and play what a person hears, run headless: no error, no raw repr).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from talklab.browser.media import SAMPLE_RATE
from talklab.views.drawing import Drawing, figure


def draw_waveform(samples: np.ndarray, title: str = "waveform") -> Drawing:
    fig, ax = figure(6.5, 2.0)
    t = np.arange(samples.size) / SAMPLE_RATE * 1000
    ax.plot(t, samples, lw=0.8, color="#7c3aed")
    ax.set_xlabel("ms")
    ax.set_ylabel("sample value")
    ax.set_title(title, fontsize=9.5)
    return Drawing.of(fig, title)


def draw_spectrum(samples: np.ndarray, title: str = "spectrum", max_hz: float = 2000) -> Drawing:
    fig, ax = figure(6.5, 2.2)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
    keep = freqs <= max_hz
    ax.plot(freqs[keep], 20 * np.log10(spectrum[keep] + 1e-9), lw=0.8, color="#1e3a5f")
    ax.set_xlabel("Hz")
    ax.set_ylabel("dB")
    ax.set_title(title, fontsize=9.5)
    return Drawing.of(fig, title)


def draw_spectrogram(samples: np.ndarray, title: str = "spectrogram", max_hz: float = 2000,
                     skip: float = 0.0) -> Drawing:
    """Frequency over time. ``skip`` seconds are left out at the start (a decoder's start-up
    transient, say), and the title says so."""
    start = int(skip * SAMPLE_RATE)
    fig, ax = figure(6.5, 2.4)
    ax.specgram(samples[start:].astype(float), NFFT=2048, Fs=SAMPLE_RATE, noverlap=1024,
                cmap="magma")
    ax.set_ylim(0, max_hz)
    ax.set_xlabel("s" + (f" (after the first {skip:g} s)" if skip else ""))
    ax.set_ylabel("Hz")
    ax.set_title(title, fontsize=9.5)
    return Drawing.of(fig, title)


def player(samples: np.ndarray) -> Any:
    """An audio player for a recording (e.g. ``link.ear.recording()``)."""
    from IPython.display import Audio
    return Audio(samples.astype(np.float32) / 32768, rate=SAMPLE_RATE, normalize=False)


def listen(person: Any, seconds: float = 2.0) -> Any:
    """A player for each call of ``person``: what they hear from each other person (a
    picture of this moment: it stays in a saved notebook)."""
    from IPython.display import HTML

    rows = [f"<div><b>{html.escape(link.remote_name)}</b> → {html.escape(person.name)} "
            f"{player(link.ear.recording(seconds))._repr_html_()}</div>"
            for link in list(person.links.values())]
    return HTML("".join(rows) or f"<i>{html.escape(person.name)} hears nobody yet</i>")
