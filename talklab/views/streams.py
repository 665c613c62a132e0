"""A room's streams drawn with their direction: the mesh beside an SFU and an MCU.

:func:`draw_streams` draws any lab's :meth:`talklab.Lab.graph`. In an SFU or MCU lab, Janus
is the square in the middle and the people sit on a circle around it; each person has an
arrow *up* to Janus (their one upload) and an arrow *down* from it labelled with what comes
down: ``×k`` streams (SFU: one per other person, forwarded as they came) or ``mix`` (MCU:
one stream, everyone else added up). Green means the stream has carried audio; one that has
not yet is orange and labelled so. A mesh graph
(no server) is drawn by :func:`talklab.views.room.draw_mesh`, one line per call, each line
two streams, one each way.

Tested in tests/test_topologies.py (a mesh, SFU and MCU room of three, drawn with every name, and
Janus when there is one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import networkx as nx

from talklab.janus import JANUS
from talklab.views.drawing import Drawing, figure
from talklab.views.room import STATE_COLOURS, draw_mesh, positions

SERVER_COLOUR, PERSON_COLOUR = "#b45309", "#7c3aed"


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], colour: str,
           label: str, side: float, span: tuple[float, float]) -> None:
    """An arrow from ``start`` to ``end`` over the fraction ``span`` of the way (clear of the
    nodes), shifted ``side`` to one side, with a label."""
    (xa, ya), (xb, yb) = start, end
    length = math.hypot(xb - xa, yb - ya) or 1.0
    nx_, ny_ = -(yb - ya) / length * side, (xb - xa) / length * side  # a normal, scaled
    a = (xa + nx_ + span[0] * (xb - xa), ya + ny_ + span[0] * (yb - ya))
    b = (xa + nx_ + span[1] * (xb - xa), ya + ny_ + span[1] * (yb - ya))
    ax.annotate("", xy=b, xytext=a, zorder=2,
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.8, mutation_scale=11))
    mx, my = (a[0] + b[0]) / 2 + 1.6 * nx_, (a[1] + b[1]) / 2 + 1.6 * ny_
    ax.text(mx, my, label, fontsize=6.5, ha="center", va="center", color=colour, zorder=3,
            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9))


def draw_streams(graph: nx.Graph, ax: Any = None, title: str | None = None) -> Any:
    """Draw ``graph`` (``lab.graph()`` of any topology) on ``ax``; return the axes."""
    if JANUS not in graph:
        return draw_mesh(graph, ax, title)
    if ax is None:
        _, ax = figure(4.2, 4.0)
    ax.clear()
    ax.set_axis_off()
    people = [n for n in graph.nodes if n != JANUS]
    pos = {name: (1.1 * x, 1.1 * y) for name, (x, y) in positions(people).items()}
    pos[JANUS] = (0.0, 0.0)
    topology = graph.graph.get("topology", "sfu")
    for name in people:
        up = [d for _, _, d in graph.out_edges(name, data=True)]
        down = [d for _, _, d in graph.in_edges(name, data=True)]
        for edges, start, end, span, word in ((up, pos[name], pos[JANUS], (0.25, 0.68), "up"),
                                              (down, pos[JANUS], pos[name], (0.32, 0.75),
                                               "down")):
            if not edges:
                continue
            ok = all(d.get("state") == "connected" for d in edges)
            colour = STATE_COLOURS["connected" if ok else "connecting"]
            label = ("mix" if topology == "mcu" and word == "down" else
                     f"×{len(edges)}" if len(edges) > 1 else "1") + ("" if ok else " (not yet)")
            _arrow(ax, start, end, colour, label, 0.08, span)
        x, y = pos[name]
        ax.scatter([x], [y], s=600, zorder=5, color=PERSON_COLOUR)
        length = math.hypot(x, y) or 1.0
        ax.text(x + 0.28 * x / length, y + 0.22 * y / length, name, fontsize=8.5, zorder=6,
                ha="center" if abs(x) < 0.5 else ("left" if x > 0 else "right"),
                va="center" if abs(y) < 0.5 else ("bottom" if y > 0 else "top"))
    ax.scatter([0], [0], marker="s", s=1000, color=SERVER_COLOUR, zorder=5)
    ax.text(0, 0, f"Janus\n{topology.upper()}", ha="center", va="center", fontsize=7,
            color="white", zorder=6)
    streams = graph.number_of_edges()
    ax.set_title(title or f"{topology.upper()}: {len(people)} people, {streams} streams",
                 fontsize=9.5)
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-1.6, 1.55)
    ax.set_aspect("equal")
    return ax


def streams_drawing(graphs: Sequence[nx.Graph] | nx.Graph,
                    titles: Sequence[str] = ()) -> Drawing:
    """One room, or several side by side (the mesh, an SFU, an MCU), as an SVG snapshot."""
    graphs = [graphs] if isinstance(graphs, nx.Graph) else list(graphs)
    titles = list(titles) or [None] * len(graphs)  # type: ignore[list-item]
    fig, axes = figure(3.6 * len(graphs), 3.6, columns=len(graphs))
    row = axes[0] if len(graphs) > 1 else [axes]
    for ax, graph, title in zip(row, graphs, titles, strict=True):
        draw_streams(graph, ax, title)
    return Drawing.of(fig, "streams")
