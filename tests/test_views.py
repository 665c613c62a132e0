"""Views and widgets, driven without a browser: clicks, live redraws, drawings, tables."""

from __future__ import annotations

import asyncio
import re

from talklab import Lab
from talklab.views import (
    DaveChecklist,
    Drawing,
    LinkStatsView,
    LoudnessView,
    MeshView,
    RoomPanel,
    candidates_table,
    draw_sequence,
    mesh_drawing,
    pairs_table,
    rooms_drawing,
    rows_table,
    sequence_diagram,
    story,
    timeline_table,
    trace_table,
)
from talklab.views.loudness import loudness

RAW_REPR = re.compile(r"<[A-Za-z_.]+ object at 0x|\b[A-Z][A-Za-z]+\(\w+=")


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
        assert panel.mesh.redraws > before and "<svg" in panel.mesh.html
        assert panel.picture.value == panel.mesh.html  # the panel shows the mesh's frame
        assert lab.graph().number_of_edges() == 15
    # the lab closed: the panel stopped, and keeps a picture of the room's last state
    assert panel.closed and "the buttons are gone" in panel.still()
    assert "15 calls carrying audio" in panel.still()


async def test_clicks_from_another_thread_run_on_the_labs_loop_one_after_another():
    """ipykernel may deliver a click on its shell channel's thread, which has a loop of its
    own: the click must still run on the lab's loop (it broke Leave: "attached to a different
    loop"), and one person's clicks in a row take turns."""
    async with Lab() as lab:
        panel = RoomPanel(lab)
        for name in ("Alice", "Bob", "Charlie"):
            await panel.join(name)
        await lab.wait_connected(10)
        started = []

        class Started(set):  # the panel's running clicks, each noted as it starts
            def add(self, task) -> None:
                started.append(task)
                super().add(task)
        panel.tasks = Started()

        def elsewhere() -> None:
            async def clicks() -> None:
                panel.leave_buttons["Bob"].click()
                panel.join_buttons["Bob"].click()
                panel.leave_buttons["Bob"].click()
            asyncio.run(clicks())

        # its three clicks were started on the lab's loop before the thread's result came back
        # (both went through the loop's queue, in that order); the first may have finished by
        # now (a fresh clone's busy machine: 2 still running)
        await asyncio.to_thread(elsewhere)
        assert len(started) == 3 and all(t.get_loop() is asyncio.get_running_loop()
                                         for t in started)
        await panel.settle()  # raises if any click failed
        alice = lab.people["Alice"]
        await alice.wait_until(lambda: "Bob" not in alice.links, 5, "Alice's call to Bob ended")
        assert panel.state("Bob") == "in the room"
        assert panel.state("Charlie").startswith("in voice")
        panel.close()


async def test_mesh_view_redraws_by_itself_and_keeps_its_last_drawing_after_close():
    async with Lab() as lab:
        view = MeshView(lab, min_interval=0.01)
        first = view.redraws
        alice = await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        await alice.wait_until(lambda: view.redraws > first + 1, 5, "the view redrew")
        assert "2 people" in view.html
    assert view.closed and "has closed" in view.html and "<svg" in view.html
    assert "1 calls carrying audio" in view.html  # the room's last state, drawn as it closed


async def test_drawings_are_svg_snapshots_that_outlive_the_lab():
    async with Lab() as lab:
        for name in ("Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
        await lab.wait_connected(10)
        before = lab.graph()
        await lab.join("Dave", voice=True)
        await lab.wait_connected(10)
        both = rooms_drawing([before, lab.graph()], ["before Dave", "after Dave"])
        one = mesh_drawing(lab.graph())
    for drawing in (both, one):
        assert isinstance(drawing, Drawing) and drawing._repr_svg_().startswith("<svg")
    assert "<!-- host -->" in both.svg  # a route is written, not only coloured


async def test_the_story_has_the_seeds_lanes_with_names_and_real_stun_and_audio():
    async with Lab(stun=True) as lab:
        await lab.join("Alice", nat="port-restricted", voice=True)
        dave = await lab.join("Dave", nat="full-cone")
        mark = dave.view  # (any moment works: the story filters by time)
        import time
        since = time.monotonic()
        await dave.join_voice()
        await lab.wait_connected(10)
        for p in lab.people.values():
            await p.wait_heard(0.1)
        arrows = story(lab, people=["Dave", "Alice"], since=since)
        kinds = {a.kind for a in arrows}
        assert kinds == {"signal", "stun", "media"}, kinds
        lanes = {n for a in arrows for n in (a.src, a.dst)}
        assert lanes == {"Dave", "Alice", "Signaling server", "STUN server"}, lanes
        text = sequence_diagram(arrows, order=["Dave"])
        assert "p_Dave->>p_Signaling_server: joinVoice" in text
        assert "-->>" in text and "public address" in text
        assert draw_sequence(arrows)._repr_svg_().startswith("<svg")
        del mark


def test_mermaid_text_cannot_be_injected_through_a_name():
    from talklab.views.sequence import Arrow
    evil = "Eve\n    p_Alice->>p_Bob: I am Bob; #fake"
    text = sequence_diagram([Arrow(evil, "Signaling server", "joinRoom")])
    assert text.count("->>") == 1 and "\n    p_Alice" not in text


async def test_stats_view_reads_rates_and_stops_with_the_lab():
    async with Lab() as lab:
        await lab.join("Alice", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        view = LinkStatsView(lab, every=0.2)
        await view.wait_readings(4)
        rates = view.history[("Alice", "Bob")][-1]
        assert 40 <= rates.pps_out <= 60 and 40 <= rates.pps_in <= 60  # 20 ms frames
        assert rates.kbps_in > 10 and "Alice → Bob" in view.html
        again = LinkStatsView(lab, every=0.2)  # a re-run cell replaces the view
        assert view.closed and not again.closed
    assert again.closed and "stopped" in again.html


async def test_loudness_view_follows_a_voice_that_starts_and_stops():
    """Dave's voice is the learner's microphone (talklab.BrowserMicrophone), fed one second
    of a tone as a page would: Alice's and Bob's rows rise, then fall back to silence."""
    import numpy as np

    from talklab.views.microphone import BrowserMicrophone
    mic = BrowserMicrophone()
    mic.send = lambda content, buffers=None: None  # type: ignore[method-assign]  (no page)
    async with Lab() as lab:
        for name in ("Alice", "Bob"):
            await lab.join(name, voice=True)
        await lab.join("Dave", voice=True, stream=mic.stream)
        await lab.wait_connected(10)
        view = LoudnessView(lab, "Dave", every=0.1)
        await view.wait_readings(3)
        assert view.level("Alice") == view.level("Bob") == -60.0  # the page sent nothing yet
        t = np.arange(48_000) / 48_000
        mic.capture.push((0.5 * np.sin(2 * np.pi * 700 * t)).astype(np.float32), 48_000)

        async def until(condition, what):
            for _ in range(60):  # readings, 0.1 s apart: 6 s at most
                if condition():
                    return
                await view.wait_readings(view.readings + 1)
            raise AssertionError(f"{what}: {dict(view.history)}")

        await until(lambda: min(view.level("Alice"), view.level("Bob")) > -20, "never rose")
        await until(lambda: max(view.level("Alice"), view.level("Bob")) == -60, "never fell")
        ear = lab.people["Alice"].link_to("Dave").ear
        ear.last_frame_at -= 10  # nothing came for ten seconds: what it last held is not heard now
        assert loudness(ear, 3.0) == -60.0 and ear.level(3.0) > -60
        assert "Alice" in view.html and "Dave, now" in view.html
        mic.listen(lab.people["Dave"])  # what the learner would be told of it all
        summary = mic.summary()
        assert summary.startswith("Your browser sent 1 frame (1.0 s) of your voice")
        assert re.search(r"Dave's ears decoded Alice at \d+ Hz, Bob at \d+ Hz", summary), summary
        assert "Your page has not reported what it plays yet" in summary
        again = LoudnessView(lab, "Dave")  # a re-run cell replaces the view
        assert view.closed and not again.closed
    assert again.closed and "stopped" in again.html
    mic.close()


async def test_daves_checklist_ticks_all_nine_steps():
    async with Lab() as lab:
        for name in ("Alice", "Bob", "Charlie"):
            await lab.join(name, voice=True)
        await lab.wait_connected(10)
        checklist = DaveChecklist(lab)
        dave = await lab.join("Dave")
        assert checklist.done() == ["1"]
        await dave.join_voice()
        await lab.wait_connected(10)
        for p in lab.people.values():
            await p.wait_heard(0.1)
        assert checklist.done() == ["1", "2", "2b", "3", "4", "5", "6", "7", "8", "9"]
        assert "ms after the click" in checklist.html
        await dave.leave_voice()  # the notebook's cell run again: Dave leaves, then clicks again
        await dave.join_voice()
        await lab.wait_connected(10)
        for p in lab.people.values():
            await p.wait_heard(0.1)
        assert checklist.done() == ["1", "2", "2b", "3", "4", "5", "6", "7", "8", "9"]
        assert "-" not in "".join(re.findall(r"[-\d]+ ms after the click", checklist.html))


async def test_tables_fit_and_show_no_raw_repr():
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat="full-cone", voice=True)
        await lab.join("Bob", voice=True)
        await lab.wait_connected(10)
        link = alice.link_to("Bob")
        tables = [candidates_table(link), pairs_table(link), timeline_table(link),
                  trace_table(lab.trace), rows_table(lab.ice_servers(), "ICE servers"),
                  rows_table([alice.host.nat.counters], "NAT counters"),
                  rows_table(lab.turn.core.rows(), "allocations")]
        for table in tables:
            html = table._repr_html_()
            assert "max-width:100%" in html and "word-break" in html
            assert not RAW_REPR.search(html), html
        assert any(r["nominated"] for r in pairs_table(link).rows)
        names = {r["from"] for r in trace_table(lab.trace, last=1000).rows}
        assert names <= {"Alice", "Bob", "Signaling server"}, names


async def test_a_story_among_two_people_leaves_out_the_notices_about_others():
    """02's diagram of Alice and Bob drew every userJoinedRoom about the crowd that had joined
    the room too: a notice is about the person it names, and belongs to their story."""
    from talklab import Lab
    from talklab.views import story

    async with Lab() as lab:
        await lab.join("Alice", voice=True)
        await lab.join("Carol")
        await lab.join("Bob", voice=True)
        await lab.wait_connected()
        labels = [a.label for a in story(lab, people=["Alice", "Bob"], candidates=False)]
        assert "userJoinedRoom (Bob)" in labels
        assert not [label for label in labels if "Carol" in label], labels


def test_a_number_in_a_table_prints_as_it_was_rounded():
    """11's table printed 129.900 for a value rounded to one decimal."""
    from talklab.views.tables import _show
    assert _show(129.9) == "129.9" and _show(2.0) == "2" and _show(0.12345) == "0.123"
    assert _show(2_130_706_431) == "2,130,706,431" and _show(5000) == "5000"
    assert _show(123456.25) == "123,456"
    # walk2 10-3: measurements printed three decimals of noise (129.529, 34.573): at most
    # four digits that count
    assert (_show(129.529), _show(34.573), _show(630.165)) == ("129.5", "34.57", "630.2")


def _room(routes):
    import networkx as nx
    graph = nx.Graph()
    for a, b, route in routes:
        graph.add_node(a, in_voice=True)
        graph.add_node(b, in_voice=True)
        graph.add_edge(a, b, state="connected", route=route)
    return graph


def test_a_room_of_many_like_calls_labels_them_once():
    """08's room of six piled fifteen "host" labels in the middle of the drawing."""
    import itertools
    six = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Frank"]
    svg = mesh_drawing(_room([(a, b, "host") for a, b in itertools.combinations(six, 2)])).svg
    assert svg.count("<!-- host -->") == 1  # the legend's (matplotlib writes text as comments)
    assert "<!-- (unlabelled lines: 15 calls, host) -->" in svg


def test_every_route_drawn_has_a_legend_entry_and_relayed_calls_stay_apart():
    """09's drawing had no legend entry for prflx (drawn like srflx) and drew Dave's relayed
    calls as one line."""
    room = _room([("Alice", "Charlie", "host"), ("Alice", "Bob", "srflx"),
                  ("Charlie", "Bob", "prflx"), ("Dave", "Alice", "relay"),
                  ("Dave", "Bob", "relay"), ("Dave", "Charlie", "relay")])
    svg = mesh_drawing(room).svg
    for entry in ("host", "srflx (via STUN)", "prflx (learnt in checks)", "relay (via TURN)"):
        assert f"<!-- {entry} -->" in svg, entry
    import matplotlib
    matplotlib.use("Agg")
    from talklab.views.drawing import figure
    from talklab.views.room import draw_mesh
    _, ax = figure(4.4, 4.0)
    draw_mesh(room, ax)
    bends = {tuple(line.get_xydata()[1]) for line in ax.lines if len(line.get_xydata()) == 3}
    assert len(bends) == 3  # three relayed calls, three paths past the TURN server
