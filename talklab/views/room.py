"""The seed's "Visual Summary — Mesh Topology", drawn from a live :meth:`Lab.graph`.

People sit on a circle, each always in the same place (so the room before and after Dave can
be compared at a glance): filled when in voice, hollow when only in the room; squares for
people talklab did not make (a browser), circles for the lab's. Each call is a line whose
*colour and label* say its state (green "connected" means audio has arrived both ways, not
merely that a connection exists) and whose *style and label* say its route: solid = host,
dashed = srflx (through a NAT, thanks to STUN), dash-dot = prflx (an address learnt during
the checks), dotted = relay, drawn through the TURN server (the square, outside the circle)
because that is where its audio goes. Nothing is told by colour alone.

Tested in tests/test_views.py (the live mesh view; drawings of one room and of several; every route
drawn with a legend entry, relayed calls apart, many like calls labelled once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
from matplotlib.lines import Line2D

from talklab.notebook import made_by
from talklab.views.drawing import Drawing, figure
from talklab.views.live import LiveView

STATE_COLOURS = {"connected": "#059669", "connecting": "#d97706", "new": "#6b7280",
                 "disconnected": "#ea580c", "failed": "#dc2626", "closed": "#9ca3af"}
ROUTE_STYLES: dict[str | None, Any] = {"host": "-", "srflx": "--", "prflx": (0, (6, 2, 1, 2)),
                                       "relay": ":", None: "-"}
ROUTE_NAMES = {"host": "host", "srflx": "srflx (via STUN)", "prflx": "prflx (learnt in checks)",
               "relay": "relay (via TURN)"}
ROUTE_WORDS = {"host": "host", "srflx": "srflx", "prflx": "prflx", "relay": "relay",
               None: "…"}
STATE_MARKS = {"connected": "", "connecting": " (connecting)", "new": " (new)",
               "failed": " ✗ failed", "disconnected": " (lost)", "closed": " (closed)"}
VOICE_COLOUR, ROOM_COLOUR = "#7c3aed", "#ffffff"
TURN_AT = (1.45, -1.3)  # the TURN server's usual place: outside the circle, out of the way


def turn_place(pos: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Where to draw the TURN server: the place below the circle farthest from everyone, so
    that a relayed call's line never runs past a third person as if through them."""
    if not pos:
        return TURN_AT
    places = [TURN_AT] + [(1.35 * math.sin(math.radians(a)), 1.35 * math.cos(math.radians(a)))
                          for a in range(120, 241, 15)]
    return max(places, key=lambda q: round(min(math.dist(q, p) for p in pos.values()), 2))


def positions(names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Places on a circle, the first at the top, in order (clockwise)."""
    n = len(names)
    if n == 1:
        return {names[0]: (0.0, 0.0)}
    return {name: (math.sin(2 * math.pi * i / n), math.cos(2 * math.pi * i / n))
            for i, name in enumerate(names)}


def draw_mesh(graph: nx.Graph, ax: Any = None, title: str | None = None,
              seats: Sequence[str] | None = None) -> Any:
    """Draw ``graph`` (from ``lab.graph()``) on ``ax`` and return the axes. ``seats`` fixes
    where each name sits (give the same list to two drawings to compare them).

    Each call's line is labelled with its route and state, except the label most calls share
    when there are many: a room of six has fifteen calls, and fifteen labels "host" pile up
    in the middle; the title says it once for all of them instead."""
    if ax is None:
        _, ax = figure(4.2, 4.0)
    ax.clear()
    ax.set_axis_off()
    names = [n for n in (seats or graph.nodes) if n in graph] + \
        [n for n in graph.nodes if seats is not None and n not in seats]
    pos = positions(list(seats) if seats else names)
    pos.update({n: p for n, p in positions(names).items() if n not in pos})
    turn_at = turn_place(pos)
    edges = list(graph.edges(data=True))
    labels = [ROUTE_WORDS.get(d.get("route"), str(d.get("route")))
              + STATE_MARKS.get(d.get("state"), f" ({d.get('state')})") for *_, d in edges]
    common = max(set(labels), key=labels.count) if len(edges) > 6 else None
    relays = [i for i, (*_, d) in enumerate(edges) if d.get("route") == "relay"]
    for i, ((a, b, d), label) in enumerate(zip(edges, labels, strict=True)):
        state, route = d.get("state"), d.get("route")
        colour = STATE_COLOURS.get(state, "#6b7280")
        style = ROUTE_STYLES.get(route, "-")
        width = 2.4 if state == "connected" else 1.4
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if route == "relay":  # via the TURN server: that is where its audio goes
            # each relayed call passes the server at a point of its own, so that two calls of
            # one person (both to the same TURN server) stay two lines, not one
            k = relays.index(i) - (len(relays) - 1) / 2
            tx, ty = turn_at[0] + 0.2 * k, turn_at[1] + 0.1 * k
            ax.plot([xa, tx, xb], [ya, ty, yb], linestyle=style, color=colour, lw=width,
                    zorder=1)
            far = max(((xa, ya), (xb, yb)), key=lambda q: math.dist(q, (tx, ty)))
            t = 0.25 + 0.5 * relays.index(i) / max(len(relays), 2)  # labels apart, too
            mx, my = far[0] + t * (tx - far[0]), far[1] + t * (ty - far[1])
        else:
            ax.plot([xa, xb], [ya, yb], linestyle=style, color=colour, lw=width, zorder=1)
            t = 0.5 if math.hypot((xa + xb) / 2, (ya + yb) / 2) > 0.35 else 0.28
            mx, my = xa + t * (xb - xa), ya + t * (yb - ya)
        # a relayed call that carries audio is labelled by the TURN box it passes through
        # (three of them from one person would stack their labels on the lines they cross)
        if label != common and not (route == "relay" and state == "connected"):
            ax.text(mx, my, label, fontsize=6.5, ha="center", va="center", color=colour,
                    zorder=2, bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none",
                                        alpha=0.92))
    if relays:
        ax.scatter([turn_at[0]], [turn_at[1]], marker="s", s=900, color="#b45309", zorder=3)
        ax.text(*turn_at, "TURN", ha="center", va="center", fontsize=6.5, color="white",
                zorder=4)
        ax.text(turn_at[0], turn_at[1] - 0.2, f"relays {len(relays)} "
                f"call{'' if len(relays) == 1 else 's'}", ha="center", va="top",
                fontsize=6.5, color="#92400e", zorder=4,
                bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.92))
    for name in names:
        data = graph.nodes[name]
        x, y = pos[name]
        ax.scatter([x], [y], s=650, zorder=5, linewidths=2, edgecolors=VOICE_COLOUR,
                   marker="o" if data.get("kind", "python") == "python" else "s",
                   color=VOICE_COLOUR if data.get("in_voice") else ROOM_COLOUR)
        note = "" if data.get("in_voice") else "\n(not in voice)"
        length = math.hypot(x, y) or 1.0
        ux, uy = x / length, y / length
        ax.text(x + 0.3 * ux, y + 0.24 * uy, name + note, fontsize=8.5, zorder=6,
                ha="center" if abs(ux) < 0.5 else ("left" if ux > 0 else "right"),
                va="center" if abs(uy) < 0.5 else ("bottom" if uy > 0 else "top"))
    in_voice = sum(1 for n in names if graph.nodes[n].get("in_voice"))
    carrying = sum(1 for *_, d in edges if d.get("state") == "connected")
    heading = title or (f"{in_voice} in voice · {carrying} of "
                        f"{in_voice * (in_voice - 1) // 2} calls carrying audio")
    if common is not None:
        heading += f"\n(unlabelled lines: {labels.count(common)} calls, {common})"
    ax.set_title(heading, fontsize=9.5)
    ax.set_xlim(-1.8, 1.8)
    ax.set_ylim(-1.7, 1.75)  # (room for two lines above the top name, and under TURN)
    ax.set_aspect("equal")
    return ax


def legend(fig: Any, graphs: Sequence[nx.Graph] = ()) -> None:
    """What the line styles and colours mean, under a drawing: every route drawn in
    ``graphs`` (and always host, srflx and relay), and the states."""
    drawn = {d.get("route") for g in graphs for *_, d in g.edges(data=True)}
    routes = [r for r in ROUTE_NAMES if r in drawn or r in ("host", "srflx", "relay")]
    handles = [Line2D([], [], color="#374151", linestyle=ROUTE_STYLES[r], lw=2,
                      label=ROUTE_NAMES[r]) for r in routes]
    handles += [Line2D([], [], color=STATE_COLOURS["connected"], lw=2.4,
                       label="carrying audio"),
                Line2D([], [], color=STATE_COLOURS["connecting"], lw=1.4, label="connecting"),
                Line2D([], [], color=STATE_COLOURS["failed"], lw=1.4, label="failed")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False,
               handlelength=3.2, bbox_to_anchor=(0.5, -0.08))


def mesh_drawing(graph: nx.Graph, title: str | None = None,
                 seats: Sequence[str] | None = None) -> Drawing:
    """A snapshot of the room as it is now: an SVG that stays after the lab closes."""
    fig, ax = figure(4.4, 4.0)
    draw_mesh(graph, ax, title, seats)
    legend(fig, [graph])
    return Drawing.of(fig, title or "the room")


def rooms_drawing(graphs: Sequence[nx.Graph], titles: Sequence[str]) -> Drawing:
    """Several moments of one room side by side, everyone in the same seat in each."""
    seats = list(dict.fromkeys(n for g in graphs for n in g.nodes))
    fig, axes = figure(4.0 * len(graphs), 3.6, columns=len(graphs))
    row = axes[0] if len(graphs) > 1 else [axes]  # (one column: figure() gives one Axes)
    for ax, graph, title in zip(row, graphs, titles, strict=True):
        draw_mesh(graph, ax, title, seats)
    legend(fig, graphs)
    return Drawing.of(fig, " → ".join(titles))


class MeshView(LiveView):
    """The lab's mesh, redrawn in place whenever a person joins, leaves or a link changes
    state, even while no cell is running (at most 5 times a second); when its lab closes it
    draws the room's last state and leaves it there.

        view = MeshView(lab); view        # in a notebook cell
    """

    text = "the room, live (run the notebook to see it redraw)"
    EVENTS = ("link-state", "link-step", "link-closed", "voice-joined", "voice-left",
              "room-joined", "closed", "connected", "signaling-lost")

    def __init__(self, lab: Any, min_interval: float = 0.2) -> None:
        self.min_interval = min_interval
        super().__init__()
        self.lab = lab
        self.made_by = made_by()
        self.listeners: list[Callable[[], None]] = []  # told after every redraw (the panel)
        self._unsubscribe = lab.events.subscribe(self._on_event)
        self.redraw()

    def _on_event(self, event: Any) -> None:
        if event.kind in ("lab-closing", "lab-closed"):  # the room as it was, before it ends
            self.close()
        elif event.kind in self.EVENTS:
            self.changed()

    def frame(self) -> str:
        graph = self.lab.graph()
        states = [d["state"] for *_, d in graph.edges(data=True)]
        return (mesh_drawing(graph).html()
                + f"<div><small>{graph.number_of_nodes()} people · "
                  f"{states.count('connected')} calls carrying audio · "
                  f"{len(states) - states.count('connected')} not yet</small></div>")

    def redraw(self) -> None:
        super().redraw()
        for listener in list(self.listeners):
            listener()

    def stopped_note(self) -> str:
        return "the lab has closed: this is its last state"

    def close(self) -> None:
        """Stop following the lab; the last drawing stays, marked as closed."""
        if self.closed:
            return
        self._unsubscribe()
        self.stop()
