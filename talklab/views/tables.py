"""Tables for notebooks: candidates, candidate pairs, link timelines, NAT and TURN state.

Each function returns a :class:`Table`, which renders as HTML in Jupyter and keeps its rows
(plain dicts) for code and self-checks.

Tested in tests/test_views.py (the tables of a live call fit and show no raw repr; a number prints
as it was rounded).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable
from typing import Any

from talklab.ice import inspect


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
        head = "".join(f"<th{_align(self.rows[0].get(c))}>{html.escape(str(c))}</th>"
                       for c in columns)
        body = []
        for row in self.rows:
            style = ' style="font-weight:bold;background:#ecfdf5"' if \
                self.highlight and row.get(self.highlight) else ""
            cells = "".join(f"<td{_align(row.get(c))}>{html.escape(_show(row.get(c)))}</td>"
                            for c in columns)
            body.append(f"<tr{style}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        # wrap long cells at spaces instead of running off the page (a word is broken only
        # where nothing else fits: word-break:break-word let columns shrink to one letter and
        # split numbers and headers mid-word); scroll only if it cannot fit
        return (f"<div style='max-width:100%;overflow-x:auto'><table style='"
                f"table-layout:auto;word-break:normal;overflow-wrap:break-word;"
                f"font-size:90%'>{caption}<thead><tr>"
                f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")

    def __repr__(self) -> str:
        return f"<Table {self.title!r}: {len(self.rows)} rows>"


def _align(value: Any) -> str:
    """Numbers to the right, so their digits line up ("3 of 5" too); words to the left, so
    they read; a little room between columns, so a right-aligned number and a left-aligned
    word beside it do not read as one ("3  3 of 3")."""
    number = (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        isinstance(value, str) and re.fullmatch(r"\d+ of \d+", value) is not None)
    return f' style="text-align:{"right" if number else "left"};padding:0 .45em"'


def _show(value: Any) -> str:
    """A cell as a learner reads it: no Python reprs, ever."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):  # as it was rounded (129.9, not 129.900): at most 3 places
        whole = len(str(int(abs(value)))) if abs(value) >= 1 else 0  # and 4 digits that count
        places = max(0, min(3, 4 - whole))
        text = f"{value:,.{places}f}" if abs(value) >= 100_000 else f"{value:.{places}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, int) and abs(value) >= 100_000:  # 2,130,706,431 reads; a port stays
        return f"{value:,}"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], int):
        return f"{value[0]}:{value[1]}"  # an address
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ", ".join(f"{f.name.replace('_', ' ')}: {_show(getattr(value, f.name))}"
                         for f in dataclasses.fields(value))
    if hasattr(value, "urls"):  # an RTCIceServer
        return " ".join(str(u) for u in ([value.urls] if isinstance(value.urls, str)
                                         else value.urls))
    return "" if value is None else str(value)


def _pc(link_or_pc):
    return getattr(link_or_pc, "pc", link_or_pc)


def candidates_table(link) -> Table:
    """Local and remote candidates of a link, priorities broken down."""
    return Table(inspect.candidates(_pc(link)), "ICE candidates")


def pairs_table(link, since: float | None = None) -> Table:
    """The check list: each candidate pair, its priority, state and history; the chosen pair
    in bold. Times are on one clock: since ``since``, by default since the link was made (as
    in :func:`timeline_table`), else since the check list's first change."""
    timeline = getattr(link, "timeline", None)
    if since is None and timeline:
        since = timeline[0][0]
    rows = []
    for r in inspect.pairs(_pc(link), since):
        history = " → ".join(f"{_state(s)} @{t * 1000:.0f}" for t, s in r["history"])
        rows.append({**r, "state": _state(r["state"]), "history": history})
    since_what = "the link was made" if since is not None and timeline else "the first check"
    return Table(rows, f"candidate pairs (bold: nominated; history in ms since {since_what})",
                 highlight="nominated")


def _state(name: str) -> str:
    """A pair state as words ("IN_PROGRESS" -> "in progress"): narrower, and easier to read."""
    return name.replace("_", " ").lower()


def timeline_table(link) -> Table:
    """A link's steps of the seed, with times since the link was made."""
    if not link.timeline:
        return Table([], "timeline")
    t0 = link.timeline[0][0]
    return Table([{"ms": f"{(t - t0) * 1000:.1f}", "step": step} for t, step in link.timeline],
                 f"{link.local_name} → {link.remote_name}")


def trace_table(trace, last: int = 20) -> Table:
    """The signaling server's last ``last`` log entries, people by name."""
    from talklab.views.sequence import SERVER, _names
    entries = list(trace)
    names = _names(entries)

    def who(sid: str | None, name: str | None) -> str:
        if not sid:
            return ""
        return SERVER if sid == "server" else (name or names.get(sid) or "someone new")
    rows = [{"t (s)": e.t, "event": e.event, "from": who(e.from_, e.from_name),
             "to": who(e.to, e.to_name), "about": who(e.peer, e.peer_name),
             "what": e.summary} for e in entries[-last:]]
    return Table(rows, "signaling trace")


def rows_table(rows: Iterable[Any], title: str = "") -> Table:
    """Any records (dicts or dataclasses) as a table."""
    out = []
    for row in rows:
        if dataclasses.is_dataclass(row) and not isinstance(row, type):
            row = {f.name.replace("_", " "): getattr(row, f.name)
                   for f in dataclasses.fields(row)}
        out.append(dict(row))
    return Table(out, title)


def source(obj: Any) -> Any:
    """Python source of a function, method or class, highlighted: talklab's code for one of
    the seed's functions, to read line by line beside it."""
    import inspect as _inspect

    from IPython.display import Code
    return Code(_inspect.getsource(obj), language="python")
