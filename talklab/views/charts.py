"""Charts: candidate priorities and the NAT × NAT matrix, as SVG drawings.

Routes are told apart by their words and a hatch as well as by colour.

Tested in tests/test_notebooks.py (notebook 05 draws the priorities and notebook 06 the NAT x NAT
matrix, run headless: no error, no raw repr).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.patches import Patch, Rectangle

from talklab.views.drawing import Drawing, figure

ROUTE_COLOURS = {"host": "#059669", "srflx": "#2563eb", "prflx": "#4f46e5", "relay": "#b45309",
                 None: "#dc2626"}
ROUTE_HATCH = {"host": "", "srflx": "//", "prflx": "\\\\", "relay": "..", None: "xx"}


def draw_priorities(rows: Sequence[dict], title: str = "candidate priorities") -> Drawing:
    """Each candidate's priority, as its parts: 2^24 × type preference, then 2^8 × local
    preference (the component's share, 256 − id, is too small to see)."""
    labels = [f"{r['side']} {r['type']}  {r['address']}:{r['port']}" for r in rows]
    type_part = [r["type_preference"] * 2**24 for r in rows]
    local_part = [r["local_preference"] * 2**8 for r in rows]
    fig, ax = figure(6.8, 0.45 * len(rows) + 1.3)
    ax.barh(labels, type_part, color="#7c3aed", label="2^24 × type preference")
    ax.barh(labels, local_part, left=type_part, color="#c4b5fd",
            label="2^8 × local preference")
    for y, r in enumerate(rows):
        ax.text(type_part[y] + local_part[y], y, f"  {r['priority']:,}", va="center",
                fontsize=7)
    ax.set_xlabel("priority")
    ax.set_xlim(0, 2**31 * 1.25)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2,
              frameon=False)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9.5)
    return Drawing.of(fig, title)


def _matrix(ax: Any, result: dict, title: str) -> None:
    types = list(dict.fromkeys(a for a, _ in result))
    for i, a in enumerate(types):
        for j, b in enumerate(types):
            cell = result[(a, b)]
            route = cell.route if cell.connected else None
            _square(ax, j, i, route)
            word = route or "failed"
            ax.text(j + 0.5, i + 0.5, f"{word}\n{cell.seconds:.1f} s", ha="center",
                    va="center", fontsize=7.5, color="white", fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.2", ec="none",  # readable over the hatch
                              fc=ROUTE_COLOURS.get(route, "#dc2626")))
    ax.set_xlim(0, len(types))
    ax.set_ylim(len(types), 0)
    ax.set_xticks([k + 0.5 for k in range(len(types))], types, rotation=25, fontsize=7.5,
                  ha="right")
    ax.set_yticks([k + 0.5 for k in range(len(types))], types, fontsize=7.5)
    ax.set_xlabel("the one who answers (joined second)", fontsize=8)
    ax.set_ylabel("the one who offers (in voice first)", fontsize=8)
    ax.set_title(title, fontsize=9.5)


def _square(ax: Any, x: int, y: int, route: str | None) -> None:
    patch = Rectangle((x, y), 1, 1, facecolor=ROUTE_COLOURS.get(route, "#dc2626"),
                      hatch=ROUTE_HATCH.get(route, ""), edgecolor="white", lw=1.5)
    ax.add_patch(patch)


def draw_matrix(*results: dict, titles: Sequence[str] = ()) -> Drawing:
    """One or more NAT × NAT matrices (from :func:`talklab.nat_matrix`) side by side: rows
    are the offerer's NAT, columns the answerer's, each cell the route ICE chose (or
    "failed") and how long it took, with a legend."""
    fig, axes = figure(4.3 * len(results), 4.3, columns=len(results))
    for ax, result, title in zip(axes[0], results, list(titles) or [""] * len(results),
                                 strict=True):
        _matrix(ax, result, title)
    fig.legend(handles=[Patch(facecolor=ROUTE_COLOURS[r], hatch=ROUTE_HATCH[r],
                              edgecolor="white", label=r or "failed")
                        for r in ("host", "srflx", "prflx", "relay", None)],
               loc="lower center", ncol=5, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return Drawing.of(fig, " / ".join(titles) or "NAT × NAT")
