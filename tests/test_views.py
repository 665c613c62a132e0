"""Views and widgets, driven without a browser: button clicks, live redraws, tables."""

from __future__ import annotations

from talklab import Lab
from talklab.views import (
    MeshView,
    RoomPanel,
    candidates_table,
    pairs_table,
    sequence_diagram,
    timeline_table,
    trace_table,
)


async def test_room_panel_buttons_join_leave_and_refuse_the_seventh():
    async with Lab() as lab:
        panel = RoomPanel(lab)
        before = panel.mesh.redraws
        for name in panel.names[:6]:
            panel.join_buttons[name].click()
        await panel.settle()
        await lab.wait_connected(15)
        assert all(panel.state(n).startswith("in voice") for n in panel.names[:6])
        assert panel.join_buttons["Alice"].disabled and not panel.leave_buttons["Alice"].disabled
        panel.join_buttons["Grace"].click()
        await panel.settle()
        assert panel.state("Grace") == "refused: Voice channel is full!"
        assert "refused" in panel.status["Grace"].value
        panel.leave_buttons["Bob"].click()
        await panel.settle()
        assert panel.state("Bob") == "in the room"
        panel.join_buttons["Grace"].click()
        await panel.settle()
        await lab.wait_connected(15)
        assert panel.state("Grace").startswith("in voice")
        panel.mesh.redraw()
        assert panel.mesh.redraws > before and panel.mesh.image.value[:4] == b"\x89PNG"
        assert lab.graph().number_of_edges() == 15
        panel.close()


async def test_mesh_view_redraws_by_itself_on_events():
    async with Lab() as lab:
        view = MeshView(lab, min_interval=0.01)
        first = view.redraws
        alice = await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        await alice.wait_until(lambda: view.redraws > first + 1, 5, "the view redrew")
        assert "2 people" in view.caption.value
        view.close()


async def test_tables_and_diagrams_render():
    async with Lab(stun=True) as lab:
        alice = await lab.join("Alice", nat="full-cone", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        link = alice.link_to("Bob")
        for table in (candidates_table(link), pairs_table(link), timeline_table(link),
                      trace_table(lab.trace)):
            assert len(table) > 0 and table._repr_html_().startswith("<table>")
        assert any(r["nominated"] for r in pairs_table(link).rows)
        diagram = sequence_diagram(lab.trace)
        assert diagram.startswith("sequenceDiagram") and "Alice->>Server: joinVoice" in diagram
        assert diagram._repr_markdown_().startswith("```mermaid")
