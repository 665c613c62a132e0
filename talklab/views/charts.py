"""Charts: candidate priorities, the NAT x NAT matrix, mesh cost."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

ROUTE_COLOURS = {"host": "#10b981", "srflx": "#3b82f6", "prflx": "#6366f1", "relay": "#f59e0b",
                 None: "#dc2626"}


def draw_priorities(rows: list[dict], ax=None):
    """Each candidate's priority, stacked as its three parts (type, local, component)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.4))
    labels = [f"{r['side']} {r['type']}\n{r['address']}:{r['port']}" for r in rows]
    type_part = [r["type_preference"] * 2**24 for r in rows]
    local_part = [r["local_preference"] * 2**8 for r in rows]
    ax.barh(labels, type_part, color="#7c3aed", label="2^24 × type preference")
    ax.barh(labels, local_part, left=type_part, color="#c4b5fd", label="2^8 × local preference")
    ax.set_xlabel("priority")
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(axis="y", labelsize=7)
    return ax


def draw_matrix(result: dict, ax=None, title: str = ""):
    """A NAT x NAT matrix (from :func:`talklab.nat_matrix`) as a heat map of routes."""
    types = list(dict.fromkeys(a for a, _ in result))
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4))
    for i, a in enumerate(types):
        for j, b in enumerate(types):
            cell = result[(a, b)]
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=ROUTE_COLOURS.get(cell.route,
                                                                              "#dc2626")))
            ax.text(j + 0.5, i + 0.5, f"{cell.route or 'failed'}\n{cell.seconds:.1f}s",
                    ha="center", va="center", fontsize=7, color="white")
    ax.set_xlim(0, len(types))
    ax.set_ylim(len(types), 0)
    ax.set_xticks(np.arange(len(types)) + 0.5, types, rotation=30, fontsize=7)
    ax.set_yticks(np.arange(len(types)) + 0.5, types, fontsize=7)
    ax.set_title(title, fontsize=10)
    return ax
