"""The room control panel: a Join voice and a Leave button per person, beside the live mesh.

Buttons call back synchronously, and not always on the thread that runs the cells (ipykernel
may deliver a click on its shell channel's thread, with a loop of its own); the panel turns each
click into an asyncio task on the loop it was made on, the one the lab and its people live on
(the protocol is asynchronous). One person's actions run one after another (a Leave clicked
while a join is under way waits for it), and the mesh and the status column redraw from the
lab's events, so everything keeps moving while no cell runs. ``await panel.join(name)`` does
from code what a click does. When the lab closes, the panel replaces itself with a picture of
the room's last state (who was where, and the mesh): buttons that could no longer do anything
are not left on the page, and a saved notebook shows that picture.

Tested in tests/test_views.py (its buttons join, leave and refuse the seventh; clicks from another
thread run on the lab's loop, one after another).
"""

from __future__ import annotations

import asyncio
import html

from talklab.browser.person import VoiceError
from talklab.lab.lab import DEFAULT_ROOM
from talklab.notebook import made_by
from talklab.tasks import within
from talklab.views.live import LiveOutput, bundle, html_bundle
from talklab.views.room import MeshView

PEOPLE = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Frank", "Grace")


class RoomPanel:
    def __init__(self, lab, names=PEOPLE, room: str = DEFAULT_ROOM) -> None:
        import ipywidgets as widgets

        self.lab, self.names, self.room = lab, list(names), room
        self.refused: dict[str, str] = {}
        self.tasks: set[asyncio.Future] = set()
        self._loop = asyncio.get_running_loop()  # the kernel's: where the lab's people live
        self._turns: dict[str, asyncio.Lock] = {}  # one person's clicks, one after another
        self.join_buttons, self.leave_buttons, self.status = {}, {}, {}
        rows = []
        for name in self.names:
            join = widgets.Button(description="Join voice", button_style="success",
                                  layout=widgets.Layout(width="7.5em"))
            leave = widgets.Button(description="Leave", layout=widgets.Layout(width="5.5em"))
            join.on_click(lambda _, name=name: self._spawn(self.join, name))
            leave.on_click(lambda _, name=name: self._spawn(self.leave, name))
            status = widgets.HTML(layout=widgets.Layout(width="16em"))
            self.join_buttons[name], self.leave_buttons[name], self.status[name] = \
                join, leave, status
            rows.append(widgets.HBox([widgets.HTML(f"<b>{html.escape(name)}</b>",
                                                   layout=widgets.Layout(width="5em")),
                                      join, leave, status]))
        self.mesh = MeshView(lab)
        self.picture = widgets.HTML(self.mesh.html)
        self.mesh.listeners.append(self._show_mesh)
        rows.append(widgets.HTML(  # (a saved notebook keeps the widgets, not the kernel)
            "<small><i>The buttons act on the lab while the kernel that made it runs; in a "
            "notebook reopened later they do nothing: run the cell again.</i></small>"))
        self.widget = widgets.HBox([widgets.VBox(rows), self.picture])
        self.output = LiveOutput()
        self.made_by = made_by()
        self.closed = False
        self._unsubscribe = lab.events.subscribe(self._on_event)
        self.refresh()

    def _on_event(self, event) -> None:
        if event.kind in ("lab-closing", "lab-closed"):
            self.close()
        else:
            self.refresh()

    def _show_mesh(self) -> None:
        self.picture.value = self.mesh.html

    # -- what a click does ------------------------------------------------------------------------
    def _spawn(self, action, name: str) -> None:
        """A click: ``action(name)`` as a task on the panel's loop, from whichever thread."""
        def start() -> None:
            task = self._loop.create_task(action(name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        try:
            same = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop running on this thread
            same = False
        if same:
            start()
        else:
            self._loop.call_soon_threadsafe(start)

    def _turn(self, name: str) -> asyncio.Lock:
        return self._turns.setdefault(name, asyncio.Lock())

    async def join(self, name: str) -> None:
        """Into the room if needed, then Join Voice (a refusal shows in the status column)."""
        async with self._turn(name):
            self.refused.pop(name, None)
            person = self.lab.people.get(name)
            if person is None:
                person = await self.lab.join(name, room=self.room)
            if not person.in_voice:
                try:
                    await person.join_voice()
                except VoiceError as refusal:
                    self.refused[name] = str(refusal)
        self.refresh()

    async def leave(self, name: str) -> None:
        async with self._turn(name):
            person = self.lab.people.get(name)
            if person is not None:
                await person.leave_voice()
        self.refresh()

    async def settle(self, timeout: float = 10) -> None:
        """Wait until every click so far has been carried out."""
        if self.tasks:
            await within(asyncio.gather(*list(self.tasks)), timeout)

    # -- what the panel shows ---------------------------------------------------------------------
    def state(self, name: str) -> str:
        person = self.lab.people.get(name)
        if name in self.refused:
            return f"refused: {self.refused[name]}"
        if person is None:
            return "not here"
        if not person.in_voice:
            return "in the room"
        up = sum(link.state == "connected" for link in person.links.values())
        return f"in voice · {up}/{len(person.voice_members)} links up"

    def refresh(self) -> None:
        for name in self.names:
            text = self.state(name)
            colour = "#b91c1c" if text.startswith("refused") else "#374151"
            self.status[name].value = f"<span style='color:{colour}'>{html.escape(text)}</span>"
            person = self.lab.people.get(name)
            self.join_buttons[name].disabled = bool(person and person.in_voice)
            self.leave_buttons[name].disabled = not (person and person.in_voice)

    def close(self) -> None:
        """Stop: the panel's place in the notebook keeps a picture of the room's last state."""
        if self.closed:
            return
        self.refresh()
        self.closed = True
        self._unsubscribe()
        self.mesh.close()
        self.output.update(html_bundle(self.still(), self.TEXT))

    def still(self) -> str:
        """The panel as a picture: each person's last status beside the room's last mesh."""
        rows = "".join(f"<tr><td style='text-align:left'><b>{html.escape(name)}</b></td>"
                       f"<td style='text-align:left'>{self.status[name].value}</td></tr>"
                       for name in self.names)
        return ("<div style='display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start'>"
                f"<table>{rows}</table><div style='max-width:100%'>{self.mesh.html}</div>"
                "</div><div><small><i>the lab has closed: the buttons are gone, and this is "
                "the room's last state</i></small></div>")

    TEXT = "the room's control panel (run the notebook to use it)"

    def _ipython_display_(self) -> None:
        if self.closed:
            self.output.show(html_bundle(self.still(), self.TEXT))
        else:
            self.output.show(bundle(self.widget, self.TEXT))
