"""The signaling trace as a sequence diagram, like the seed's "Full End-to-End Pipeline".

The server's trace records every event in and out. Here each relayed message becomes two
arrows through the server (Alice ->> Server: webrtc-offer to Dave; Server ->> Dave: webrtc-offer
from Alice), in the order the server saw them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt

SHORT = {"webrtc-ice-candidate": "ice-candidate"}
HIDDEN = {"connect", "disconnect"}


@dataclass
class Arrow:
    src: str
    dst: str
    label: str


def arrows(trace: Iterable, events: set[str] | None = None, limit: int = 80) -> list[Arrow]:
    out = []
    for e in trace:
        if e.event in HIDDEN or (events is not None and e.event not in events):
            continue
        src = "Server" if e.from_ == "server" else (e.from_name or e.from_[:6])
        dst = "Server" if e.to == "server" else (e.to_name or e.to[:6])
        label = SHORT.get(e.event, e.event)
        if e.peer_name:
            label += f" ({'to' if e.to == 'server' else 'from'} {e.peer_name})"
        out.append(Arrow(src, dst, label))
    return out[:limit]


def participants(items: list[Arrow]) -> list[str]:
    names: list[str] = []
    for a in items:
        for n in (a.src, a.dst):
            if n != "Server" and n not in names:
                names.append(n)
    if not names:
        return ["Server"]
    return [*names[:1], "Server", *names[1:]]


def sequence_diagram(trace: Iterable, events: set[str] | None = None,
                     limit: int = 80) -> SequenceDiagram:
    """Mermaid text for the trace; shows as a diagram in JupyterLab (4.1+)."""
    items = arrows(trace, events, limit)
    lines = ["sequenceDiagram"]
    lines += [f"    participant {p.replace(' ', '_')} as {p}" for p in participants(items)]
    lines += [f"    {a.src.replace(' ', '_')}->>{a.dst.replace(' ', '_')}: {a.label}"
              for a in items]
    return SequenceDiagram("\n".join(lines))


class SequenceDiagram(str):
    """Mermaid source that renders itself in JupyterLab's Markdown."""

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self}\n```"


def draw_sequence(trace: Iterable, events: set[str] | None = None, limit: int = 40,
                  ax: Any = None):
    """The same diagram with matplotlib (for static output, PDFs, and nbconvert)."""
    items = arrows(trace, events, limit)
    names = participants(items)
    x = {n: i for i, n in enumerate(names)}
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * len(names) + 1, 0.32 * len(items) + 1.2))
    ax.set_axis_off()
    bottom = -len(items) - 0.5
    for n, i in x.items():
        ax.plot([i, i], [0.3, bottom], color="#cbd5e1", lw=1, zorder=0)
        ax.text(i, 0.5, n, ha="center", va="bottom", fontsize=9, fontweight="bold",
                bbox=dict(boxstyle="round", fc="#1e3a5f" if n == "Server" else "#ede9fe",
                          ec="none"), color="white" if n == "Server" else "#1f2937")
    for row, a in enumerate(items, start=1):
        y = -row
        ax.annotate("", xy=(x[a.dst], y), xytext=(x[a.src], y),
                    arrowprops=dict(arrowstyle="->", color="#3b82f6", lw=1.2))
        ax.text((x[a.src] + x[a.dst]) / 2, y + 0.08, a.label, ha="center", va="bottom",
                fontsize=7)
    ax.set_xlim(-0.7, len(names) - 0.3)
    ax.set_ylim(bottom, 1.2)
    return ax
