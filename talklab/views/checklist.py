"""Dave's nine steps, as one checklist that ticks while the live room goes through them.

The seed walks through what happens when Dave clicks "Join Voice" in a room where Alice, Bob
and Charlie already talk, in nine steps. :class:`DaveChecklist` follows the lab's events (what
the people publish: see :mod:`talklab.events`) and ticks each step as it really happens, with
how long after the click it happened, and with "2 of 3" while it is under way: the offers come
from three people, and each of the three calls goes through Steps 3 to 9 on its own.

Tested in tests/test_views.py (Dave's checklist ticks all nine steps) and tests/test_exercises_00.py
(in notebook 00's room, and its snapshot is plain HTML).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

from talklab.notebook import made_by
from talklab.views.live import LiveView

STEPS = (
    ("1", "getUserMedia: Dave's browser gets a microphone", "handleJoinVoice"),
    ("2", "joinVoice: the server checks the seats, marks Dave in voice", "socket.on('joinVoice')"),
    ("2b", "userJoinedVoice: the others are told", "socket.to(room).emit"),
    ("3", "each one already in voice makes a connection and sends an offer",
     "handleUserJoinedVoice"),
    ("4", "the server relays each offer to Dave (from: who sent it)", "socket.on('webrtc-offer')"),
    ("5", "Dave answers each offer", "handleWebRTCOffer"),
    ("6", "the server relays each answer back", "socket.on('webrtc-answer')"),
    ("7", "each offerer applies Dave's answer", "handleWebRTCAnswer"),
    ("8", "ICE candidates trickle through the server; ICE picks a route",
     "onicecandidate / handleWebRTCICECandidate"),
    ("9", "audio flows peer to peer, both ways: the server's job is done", "ontrack"),
)


@dataclass
class Progress:
    done_at: float | None = None
    seen: set[str] = field(default_factory=set)  # who has done it (for per-call steps)


class DaveChecklist(LiveView):
    """``DaveChecklist(lab, "Dave")``: shows in a notebook; :meth:`done` says which steps are
    complete. Per-call steps count the calls between the newcomer and those already in voice.
    When the lab closes, the checklist stays as it ended."""

    min_interval = 0.05

    def __init__(self, lab: Any, newcomer: str = "Dave") -> None:
        super().__init__()
        self.lab, self.newcomer = lab, newcomer
        self.made_by = made_by()
        self.text = (f"{newcomer}'s nine steps (a live checklist: run the notebook to see it "
                     "tick)")
        self.progress = {key: Progress() for key, *_ in STEPS}
        self.others: set[str] = set()  # those in voice before the click: the offerers
        self.clicked_at: float | None = None
        self.html = self._draw()
        self._unsubscribe = lab.events.subscribe(self._on_event)

    # -- what happens --------------------------------------------------------------------------
    def _tick(self, key: str, who: str | None = None) -> None:
        step = self.progress[key]
        if who is not None:
            step.seen.add(who)
        complete = who is None or (self.others and step.seen >= self.others)
        if complete and step.done_at is None:
            step.done_at = time.monotonic()
        self.changed()

    def _on_event(self, event: Any) -> None:
        d, me = event.data, self.newcomer
        kind = event.kind
        if kind in ("lab-closing", "lab-closed"):
            self.close()
        elif kind == "got-media" and d.get("person") == me:
            self._tick("1")
        elif kind == "join-voice-sent" and d.get("person") == me:
            if self.clicked_at is not None:  # a second click (the cell run again): steps anew
                self.progress = {key: self.progress[key] if key == "1" else Progress()
                                 for key, *_ in STEPS}
            self.clicked_at = event.t
            self.others = {p.name for p in self.lab.people.values() if p.in_voice
                           and p.name != me and p.room == self.lab.people[me].room}
            self.changed()
        elif kind == "voice-joined" and d.get("person") == me:
            self._tick("2")
        elif kind == "told-of-voice-join" and d.get("newcomer") == me:
            self._tick("2b", d.get("person"))
        elif kind == "link-step":
            self._on_step(d.get("person"), d.get("remote"), d.get("step", ""))

    def _on_step(self, person: str | None, remote: str | None, step: str) -> None:
        me = self.newcomer
        if remote == me and step == "offer sent":
            self._tick("3", person)
        elif person == me and step == "offer received":
            self._tick("4", remote)
        elif person == me and step == "answer sent":
            self._tick("5", remote)
        elif remote == me and step == "answer received":
            self._tick("6", person)
            self._tick("7", person)
        elif step == "ICE completed" and me in (person, remote):
            self._tick("8", remote if person == me else person)
        elif step == "first audio frame" and me in (person, remote):
            heard = self.progress["9"]  # both ways, on every call
            heard.seen.add(f"{person}<-{remote}")
            both = {f"{me}<-{o}" for o in self.others} | {f"{o}<-{me}" for o in self.others}
            if self.others and heard.seen >= both and heard.done_at is None:
                heard.done_at = time.monotonic()
            self.changed()

    # -- what it shows ---------------------------------------------------------------------------
    def done(self) -> list[str]:
        """The steps complete so far, in order."""
        return [key for key, *_ in STEPS if self.progress[key].done_at is not None]

    def frame(self) -> str:
        rows = []
        n = len(self.others)
        for key, what, function in STEPS:
            step = self.progress[key]
            if step.done_at is not None:
                after = "" if self.clicked_at is None or key == "1" else \
                    f" · {1000 * (step.done_at - self.clicked_at):.0f} ms after the click"
                mark, colour = "✔", "#047857"
                status = "done" + after
            elif step.seen and n:
                count = len(step.seen) // (2 if key == "9" else 1)
                mark, colour, status = "◐", "#b45309", f"{count} of {n} calls"
            else:
                mark, colour, status = "○", "#6b7280", "waiting"
            rows.append(f"<tr><td style='color:{colour};font-weight:bold'>{mark}</td>"
                        f"<td style='text-align:left;white-space:nowrap'>Step {key[0]}</td>"
                        f"<td style='text-align:left'>{html.escape(what)}</td>"
                        f"<td style='text-align:left'><code>{html.escape(function)}</code></td>"
                        f"<td style='color:{colour};text-align:left'>{status}</td></tr>")
        title = f"{html.escape(self.newcomer)} clicks “Join Voice”"
        return f"<table><caption><b>{title}</b></caption>{''.join(rows)}</table>"

    def snapshot(self) -> Any:
        """The checklist as it stands now, as plain HTML: it stays in a saved notebook, where
        the live widget is gone once the kernel is."""
        from IPython.display import HTML
        return HTML(self.frame())

    def stopped_note(self) -> str:
        return "the lab has closed: the checklist as it ended"

    def close(self) -> None:
        if self.closed:
            return
        self._unsubscribe()
        self.stop()
