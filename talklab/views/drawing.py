"""Drawings that stay sharp and stay put: a matplotlib figure turned into SVG, once.

A talklab drawing is a snapshot: :class:`Drawing` holds the SVG text of a figure drawn at one
moment (the room before Dave, the room after), so it is crisp at any zoom, sized for a
notebook column, and still there, unchanged, after the lab that it shows has closed. Live views
(:mod:`.mesh`, :mod:`.stats`) redraw into a widget instead.

Tested in tests/test_views.py (drawings are SVG snapshots that outlive the lab; figure(), as the
mesh drawing uses it).
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib.pyplot as plt

WIDTH = 7.5  # inches: a JupyterLab notebook column at its default zoom


class Drawing:
    """An SVG snapshot of a figure. Shows itself in Jupyter; ``.svg`` is the text."""

    def __init__(self, svg: str, title: str = "") -> None:
        self.svg = svg
        self.title = title

    @classmethod
    def of(cls, figure: Any, title: str = "") -> Drawing:
        """Snapshot ``figure`` as SVG and close it (so Jupyter does not show it a second time,
        and no figure accumulates in memory)."""
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight")
        plt.close(figure)
        svg = buffer.getvalue()
        svg = svg[svg.index("<svg"):]  # without the XML prolog and doctype: embeddable
        return cls(svg, title)

    def _repr_svg_(self) -> str:
        return self.svg

    def html(self) -> str:
        """For widgets: the SVG scaled to the width it has, never wider than it was drawn."""
        return re.sub(r'<svg ', '<svg style="max-width:100%;height:auto" ', self.svg, count=1)

    def __repr__(self) -> str:
        return f"<Drawing {self.title!r}>" if self.title else "<Drawing>"


def figure(width: float = WIDTH, height: float = 3.0, columns: int = 1) -> tuple[Any, Any]:
    """A new figure of notebook width and its axes (``columns`` side by side)."""
    return plt.subplots(1, columns, figsize=(width, height), squeeze=columns == 1)
