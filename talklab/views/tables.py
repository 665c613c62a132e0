"""Tables for notebooks: candidates, candidate pairs, link timelines, NAT and TURN state.

Each function returns a :class:`Table`, which renders as HTML in Jupyter and keeps its rows
(plain dicts) for code and self-checks.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from ..ice import inspect


class Table:
    def __init__(self, rows: Iterable[dict], title: str = "", highlight: str | None = None):
        self.rows = list(rows)
        self.title = title
        self.highlight = highlight  # a boolean column: rows where it is true are bold

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<i>{html.escape(self.title or 'empty')}: nothing yet</i>"
        columns = list(self.rows[0])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = []
        for row in self.rows:
            style = ' style="font-weight:bold;background:#ecfdf5"' if \
                self.highlight and row.get(self.highlight) else ""
            cells = "".join(f"<td>{html.escape(_show(row.get(c)))}</td>" for c in columns)
            body.append(f"<tr{style}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return (f"<table>{caption}<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>")

    def __repr__(self) -> str:
        return f"<Table {self.title!r}: {len(self.rows)} rows>"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return "" if value is None else str(value)


def _pc(link_or_pc):
    return getattr(link_or_pc, "pc", link_or_pc)


def candidates_table(link) -> Table:
    """Local and remote candidates of a link, priorities broken down."""
    return Table(inspect.candidates(_pc(link)), "ICE candidates")


def pairs_table(link) -> Table:
    """The check list: each candidate pair, its priority, state and history; the chosen pair
    in bold."""
    rows = []
    for r in inspect.pairs(_pc(link)):
        history = " → ".join(f"{s} @{t * 1000:.0f} ms" for t, s in r["history"])
        rows.append({**r, "history": history})
    return Table(rows, "candidate pairs (bold: nominated)", highlight="nominated")


def timeline_table(link) -> Table:
    """A link's steps of the seed, with times since the link was made."""
    if not link.timeline:
        return Table([], "timeline")
    t0 = link.timeline[0][0]
    return Table([{"ms": round((t - t0) * 1000, 1), "step": step} for t, step in link.timeline],
                 f"{link.person.name} → {link.remote_name}")


def trace_table(trace, last: int = 20) -> Table:
    """The signaling server's last ``last`` log entries."""
    rows = [{"t (s)": e.t, "event": e.event, "from": e.from_name or e.from_[:6],
             "to": e.to_name or e.to[:6], "peer": e.peer_name or "", "summary": e.summary}
            for e in list(trace)[-last:]]
    return Table(rows, "signaling trace")
