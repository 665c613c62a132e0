"""The room's story as a sequence diagram, like the seed's "Full End-to-End Pipeline".

Three logs of the same process, set on one clock (``time.monotonic()``):

* the signaling server's trace: every event in and out, each relayed message as two arrows
  through the server ("Alice ->> Server: webrtc-offer (to Dave)", then "Server ->> Dave:
  webrtc-offer (from Alice)");
* the lab's STUN server: each Binding request it answered ("Dave ->> STUN: what's my public
  address?", "STUN ->> Dave: you are 127.20.0.3:41234"), matched to a person by the address
  their NAT sent it from;
* each person's links: the first audio that arrived ("Alice -->> Dave: audio"), peer to peer.

Lanes are named after people, never socket ids (a message sent before the server learnt
someone's name is named from what it learnt later). :func:`sequence_diagram` writes Mermaid
(JupyterLab draws it); :func:`draw_sequence` draws the same with matplotlib, as SVG.

Tested in tests/test_views.py (the story has the seed's lanes, with names, real STUN and audio; a
story among two leaves out notices about others; no Mermaid injected through a name) and
tests/test_exercises_00.py (notebook 00's story, candidates named by kind).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from talklab.views.drawing import Drawing, figure

SHORT = {"webrtc-ice-candidate": "ice-candidate"}
HIDDEN = {"connect", "disconnect"}
SERVER, STUN = "Signaling server", "STUN server"


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    label: str
    kind: str = "signal"  # "signal" (through the server), "stun", "media" (peer to peer)
    t: float = 0.0  # time.monotonic()
    about: str | None = None  # the other end of the call it serves ("to Alice": Alice)


TYPE_OF_PREFERENCE = {126: "host", 110: "prflx", 100: "srflx", 0: "relay"}


def candidate_kind(summary: str) -> str:
    """What a trickled candidate is, from the trace's summary of it: ``host``, ``srflx``,
    ``relay``..., or ``end`` for the end-of-candidates marker. (The summary may be cut short
    before its ``typ``; the priority's top byte is the type preference, RFC 8445 5.1.2.1.)"""
    if summary == "end-of-candidates":
        return "end"
    fields = summary.split()
    if "typ" in fields[:-1]:
        return fields[fields.index("typ") + 1]
    try:
        return TYPE_OF_PREFERENCE.get(int(fields[3]) >> 24, "candidate")
    except (IndexError, ValueError):
        return "candidate"


def _names(trace: Sequence[Any]) -> dict[str, str]:
    """Every socket id the trace ever named (a first joinRoom is logged before its name)."""
    names: dict[str, str] = {}
    for e in trace:
        for sid, name in ((e.from_, e.from_name), (e.to, e.to_name), (e.peer, e.peer_name)):
            if sid and name and sid != "server":
                names[sid] = name
    return names


def arrows(trace: Iterable[Any], events: set[str] | None = None, limit: int = 80,
           started_at: float = 0.0) -> list[Arrow]:
    """The signaling trace as arrows (``started_at``: the trace's clock origin)."""
    entries = list(trace)
    names = _names(entries)

    def who(sid: str, name: str | None) -> str:
        return SERVER if sid == "server" else (name or names.get(sid) or "someone new")

    out = []
    for e in entries:
        if e.event in HIDDEN or (events is not None and e.event not in events):
            continue
        label = SHORT.get(e.event, e.event)
        if e.event == "webrtc-ice-candidate":
            label += f": {candidate_kind(e.summary)}"
        peer = e.peer_name or names.get(e.peer or "")
        if peer and e.event.startswith("webrtc-"):
            label += f" ({'to' if e.to == 'server' else 'from'} {peer})"
        elif peer and peer != who(e.to, e.to_name):  # a notice: about whom
            label += f" ({peer})"
        out.append(Arrow(who(e.from_, e.from_name), who(e.to, e.to_name), label, "signal",
                         started_at + e.t, peer))
    return out[:limit]


def story(lab: Any, people: Sequence[str] | None = None, since: float | None = None,
          candidates: bool = True, limit: int = 80) -> list[Arrow]:
    """The lab's signaling, STUN and first audio, in time order, among ``people`` (default:
    everyone) and from ``since`` (a ``time.monotonic()`` value) on."""
    wanted = set(people) if people else None
    items = arrows(lab.trace, None if candidates else
                   {e for e in _EVENTS if e != "webrtc-ice-candidate"},
                   limit=100_000, started_at=lab.trace.started_at)
    if lab.stun is not None:
        by_address = {}
        for p in lab.people.values():
            by_address[p.host.address] = p.name
            if p.host.nat is not None:
                by_address[p.host.nat.public_ip] = p.name
        serving = _calls_served(lab)
        for a in lab.stun.answered:
            name = by_address.get(a.client[0])
            if name is not None:
                about = serving.get(tuple(a.client[:2]))
                items.append(Arrow(name, STUN, "what's my public address?", "stun", a.t, about))
                items.append(Arrow(STUN, name, f"you are {a.client[0]}:{a.client[1]}",
                                   "stun", a.t + a.delay + 1e-6, about))
    for p in lab.people.values():
        for link in list(p.links.values()):
            for t, step in link.timeline:
                if step == "first audio frame":
                    items.append(Arrow(link.remote_name, p.name, "audio, peer to peer",
                                       "media", t, p.name))
    items.sort(key=lambda a: a.t)
    if since is not None:
        items = [a for a in items if a.t >= since]
    if wanted is not None:  # among these people, and about calls among them
        items = [a for a in items if {a.src, a.dst} - {SERVER, STUN} <= wanted
                 and (a.about is None or a.about in wanted)]
    return items[:limit]


def _calls_served(lab: Any) -> dict[tuple[str, int], str]:
    """Which call each public address learnt through STUN serves: a srflx candidate of the
    link from a person to whom (each call has its own sockets, so its own mapping)."""
    from talklab.ice import ice_connection

    served = {}
    for p in lab.people.values():
        for link in list(p.links.values()):
            connection = ice_connection(link.pc)
            for c in connection.local_candidates if connection is not None else ():
                if c.type == "srflx":
                    served[(c.host, c.port)] = link.remote_name
    return served


_EVENTS = ("joinRoom", "roomJoined", "userJoinedRoom", "userLeftRoom", "joinVoice",
           "voiceJoined", "voiceError", "userJoinedVoice", "userLeftVoice", "leaveVoice",
           "voiceLeft", "webrtc-offer", "webrtc-answer", "webrtc-ice-candidate",
           "signalingError")


def participants(items: Sequence[Arrow], order: Sequence[str] | None = None) -> list[str]:
    """Lanes: the first person, the servers, then the others (as the seed draws them)."""
    names: list[str] = list(order or [])
    for a in items:
        for n in (a.src, a.dst):
            if n not in names and n not in (SERVER, STUN):
                names.append(n)
    servers = [s for s in (SERVER, STUN) if any(s in (a.src, a.dst) for a in items)]
    return [*names[:1], *servers, *names[1:]]


_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _mermaid_id(name: str) -> str:
    return "p_" + _SAFE.sub("_", name)


def _mermaid_text(text: str) -> str:
    """Text Mermaid shows as is: no line breaks, and its special characters as entities, so a
    name cannot add an arrow of its own (``#`` and ``;`` start entities and statements)."""
    text = " ".join(text.split())
    return "".join(f"#{ord(c)};" if c in "#;<>:\"`%{}" else c for c in text)


def sequence_diagram(trace_or_arrows: Iterable[Any], events: set[str] | None = None,
                     limit: int = 80, order: Sequence[str] | None = None) -> SequenceDiagram:
    """Mermaid text for a trace (or for :func:`story`'s arrows); JupyterLab draws it."""
    items = _as_arrows(trace_or_arrows, events, limit)
    lines = ["sequenceDiagram"]
    lines += [f"    participant {_mermaid_id(p)} as {_mermaid_text(p)}"
              for p in participants(items, order)]
    for a in items:
        arrow = "-->>" if a.kind == "media" else "->>"
        lines.append(f"    {_mermaid_id(a.src)}{arrow}{_mermaid_id(a.dst)}: "
                     f"{_mermaid_text(a.label)}")
    return SequenceDiagram("\n".join(lines))


def _as_arrows(source: Iterable[Any], events: set[str] | None, limit: int) -> list[Arrow]:
    items = list(source)
    if items and isinstance(items[0], Arrow):
        return [a for a in items if events is None or a.label.split()[0] in events][:limit]
    return arrows(items, events, limit)


class SequenceDiagram(str):
    """Mermaid source that renders itself in JupyterLab's Markdown."""

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self}\n```"


COLOURS = {"signal": "#2563eb", "stun": "#b45309", "media": "#059669"}


def _fit(label: str, width: int) -> str:
    """``label`` in lines of at most ``width`` characters (lanes are 1.7 in apart: about 24
    characters of 6.2 pt text fit between two lifelines, clear of both): a parenthesis that
    does not fit goes to a line of its own, then long lines wrap."""
    if len(label) <= width:
        return label
    head, paren, tail = label.partition(" (")
    lines = [head, paren.strip() + tail] if paren else [label]
    return "\n".join(part for line in lines for part in textwrap.wrap(line, width))


def draw_sequence(trace_or_arrows: Iterable[Any], events: set[str] | None = None,
                  limit: int = 40, order: Sequence[str] | None = None,
                  title: str = "") -> Drawing:
    """The same diagram with matplotlib, as an SVG drawing that stays in the notebook."""
    items = _as_arrows(trace_or_arrows, events, limit)
    names = participants(items, order)
    x = {n: i for i, n in enumerate(names)}
    fig, ax = figure(max(4.0, 1.7 * len(names) + 0.8), 0.3 * len(items) + 1.0)
    ax.set_axis_off()
    bottom = -len(items) - 0.5
    for n, i in x.items():
        ax.plot([i, i], [0.3, bottom], color="#cbd5e1", lw=1, zorder=0)
        server = n in (SERVER, STUN)
        ax.text(i, 0.5, n, ha="center", va="bottom", fontsize=8.5, fontweight="bold",
                bbox=dict(boxstyle="round", fc="#1e3a5f" if server else "#ede9fe", ec="none"),
                color="white" if server else "#1f2937")
    for row, a in enumerate(items, start=1):
        ax.annotate("", xy=(x[a.dst], -row), xytext=(x[a.src], -row),
                    arrowprops=dict(arrowstyle="->", color=COLOURS[a.kind], lw=1.2,
                                    linestyle="--" if a.kind == "media" else "-"))
        label = _fit(a.label, 24 * max(abs(x[a.dst] - x[a.src]), 1))
        ax.text((x[a.src] + x[a.dst]) / 2, -row + 0.06, label, ha="center", va="bottom",
                fontsize=6.2, color="#111827", linespacing=0.95,
                bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none", alpha=0.85))
    ax.set_xlim(-0.8, len(names) - 0.2)
    ax.set_ylim(bottom, 1.3)
    if title:
        ax.set_title(title, fontsize=9.5)
    return Drawing.of(fig, title or "sequence")
