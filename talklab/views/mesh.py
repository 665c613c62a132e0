"""The seed's "Visual Summary — Mesh Topology", drawn from a live :meth:`Lab.graph`.

Nodes are people: filled when in voice, hollow when only in the room; squares are browser
people, circles Python people. Edges are connections, coloured by state (green = connected,
which in talklab means audio has arrived both ways; orange = connecting; red = failed) and
styled by route (solid = host, dashed = srflx/prflx, dotted = relay). A relayed connection is
drawn through the TURN server, in the middle, because that is where its audio goes.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import matplotlib.pyplot as plt
import networkx as nx

STATE_COLOURS = {"connected": "#10b981", "connecting": "#f59e0b", "new": "#9ca3af",
                 "disconnected": "#f97316", "failed": "#dc2626", "closed": "#d1d5db"}
ROUTE_STYLES = {"host": "solid", "srflx": "dashed", "prflx": "dashed", "relay": "dotted",
                None: "solid"}
VOICE_COLOUR, ROOM_COLOUR = "#7c3aed", "#ffffff"


def draw_mesh(graph: nx.Graph, ax: Any = None, title: str | None = None):
    """Draw ``graph`` (from ``lab.graph()``) on ``ax``; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.clear()
    ax.set_axis_off()
    nodes = list(graph.nodes)
    pos = nx.circular_layout(nodes) if len(nodes) > 1 else {n: (0, 0) for n in nodes}
    relayed = [(a, b) for a, b, d in graph.edges(data=True) if d.get("route") == "relay"]
    for style in ("solid", "dashed"):
        edges = [(a, b) for a, b, d in graph.edges(data=True)
                 if d.get("route") != "relay" and ROUTE_STYLES.get(d.get("route")) == style]
        colours = [STATE_COLOURS.get(graph.edges[e].get("state"), "#9ca3af") for e in edges]
        if edges:
            nx.draw_networkx_edges(graph, pos, edgelist=edges, edge_color=colours, width=2.5,
                                   style=style, ax=ax)
    if relayed:  # via the TURN server, drawn at the centre
        turn = (0.0, 0.0)
        for a, b in relayed:
            colour = STATE_COLOURS.get(graph.edges[a, b].get("state"), "#9ca3af")
            for end in (a, b):
                ax.plot([pos[end][0], turn[0]], [pos[end][1], turn[1]], linestyle=":",
                        color=colour, linewidth=2.5, zorder=0)
        ax.scatter([turn[0]], [turn[1]], marker="s", s=700, color="#f59e0b", zorder=3)
        ax.text(turn[0], turn[1], "TURN", ha="center", va="center", fontsize=7,
                color="white", zorder=4)
    for shape, kind in (("o", "python"), ("s", "browser")):
        group = [n for n in nodes if graph.nodes[n].get("kind", "python") == kind]
        if group:
            nx.draw_networkx_nodes(
                graph, pos, nodelist=group, node_shape=shape, node_size=900, linewidths=2,
                edgecolors=VOICE_COLOUR,
                node_color=[VOICE_COLOUR if graph.nodes[n].get("in_voice") else ROOM_COLOUR
                            for n in group], ax=ax)
    labels = {n: n for n in nodes}
    nx.draw_networkx_labels(graph, {n: (x, y - 0.22) for n, (x, y) in pos.items()}, labels,
                            font_size=9, ax=ax)
    in_voice = sum(1 for n in nodes if graph.nodes[n].get("in_voice"))
    connected = sum(1 for *_, d in graph.edges(data=True) if d.get("state") == "connected")
    ax.set_title(title or f"{in_voice} in voice · {connected} of "
                 f"{in_voice * (in_voice - 1) // 2} links carrying audio", fontsize=10)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.45, 1.3)
    return ax


def mesh_png(graph: nx.Graph, title: str | None = None) -> bytes:
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    draw_mesh(graph, ax, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


class MeshView:
    """A widget showing the lab's mesh, redrawn whenever a person joins, leaves or a link
    changes state, even while no cell is running (a task redraws it, at most 5 times a second).

        view = MeshView(lab); view        # in a notebook cell
    """

    def __init__(self, lab, min_interval: float = 0.2) -> None:
        import ipywidgets as widgets

        self.lab = lab
        self.min_interval = min_interval
        self.image = widgets.Image(format="png")
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([self.image, self.caption])
        self.redraws = 0
        self._pending: asyncio.Task | None = None
        self._unsubscribe = lab.events.subscribe(self._on_event)
        self.redraw()

    def _on_event(self, event) -> None:
        if event.kind in ("link-state", "link-step", "link-closed", "voice-joined", "voice-left",
                          "room-joined", "closed", "connected"):
            self.schedule()

    def schedule(self) -> None:
        if self._pending is None or self._pending.done():
            try:
                self._pending = asyncio.get_running_loop().create_task(self._later())
            except RuntimeError:  # no loop running (plain script): draw now
                self.redraw()

    async def _later(self) -> None:
        await asyncio.sleep(self.min_interval)
        self.redraw()

    def redraw(self) -> None:
        graph = self.lab.graph()
        self.image.value = mesh_png(graph)
        states = [d["state"] for *_, d in graph.edges(data=True)]
        self.caption.value = (f"<small>{graph.number_of_nodes()} people · "
                              f"{states.count('connected')} connected · "
                              f"{len(states) - states.count('connected')} not yet</small>")
        self.redraws += 1

    def close(self) -> None:
        self._unsubscribe()
        if self._pending is not None:
            self._pending.cancel()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
