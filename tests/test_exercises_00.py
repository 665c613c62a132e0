"""Notebook 00 (the big picture): its self-checks, and the live room it stands on.

00 has no code exercise. Its self-checks are tested like every other (right, wrong without the
answer, wrong type), and the room of the notebook is built once here to hold the views to what
the notebook says of them: the story has the seed's four lanes, names no one else's call and
labels each candidate; the checklist ticks all nine steps and leaves a snapshot; live views
never show a repr; the messages the server relays are the ones the self-check counts.
"""

from __future__ import annotations

import time

import pytest
from helpers import answer_key

from talklab import Lab, check
from talklab.views import DaveChecklist, LinkStatsView, rooms_drawing, story
from talklab.views.live import bundle, html_bundle
from talklab.views.sequence import candidate_kind

answers = answer_key("00")
RAW_REPR = r"\b(?:[A-Z]\w+)\((?:\w+=)"


CASES = [
    (check.mesh_links, dict(n=5), 10, 20, "10"),
    (check.mesh_links, dict(n=5), 10, 4, 10.0),
    (check.relayed_messages, dict(in_voice=5, candidates=2), 40, 80, "40"),
    (check.relayed_messages, dict(in_voice=5, candidates=2), 40, 30, 40.5),
    (check.relayed_messages, dict(in_voice=5, candidates=2), 40, 8, None),
]


@pytest.mark.parametrize("question,params,right,wrong,badly_typed", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_each_self_check_judges_hints_and_reveals(question, params, right, wrong, badly_typed):
    assert question(**params, answer=right)
    feedback = question(**params, answer=wrong)
    assert feedback.verdict == "not yet" and len(feedback.message) > 20
    assert str(right) not in feedback.message, feedback.message
    if badly_typed is not None:
        typed = question(**params, answer=badly_typed)
        assert typed.verdict == "wrong type" and "takes" in typed.message
    assert str(right) in check.reveal(question, **params).message


def test_the_key_answers_the_notebooks_questions():
    assert check.mesh_links(5, answer=answers.SELF_CHECKS["check.mesh_links(5)"])
    assert check.relayed_messages(in_voice=5, candidates=2, answer=answers.SELF_CHECKS[
        "check.relayed_messages(in_voice=5, candidates=2)"])
    assert answers.PREDICTIONS == {"offers_to_dave": 3, "calls_after_dave": 6,
                                   "copies_of_your_voice": 3}


def test_a_trickled_candidate_is_named_even_when_its_summary_is_cut_short():
    assert candidate_kind("end-of-candidates") == "end"
    assert candidate_kind("candidate:abc 1 udp 2130706431 127.10.0.1 5000 typ host") == "host"
    assert candidate_kind("candidate:" + "f" * 32 + " 1 udp 1694498815 127.20.0.1 38804 ty…") \
        == "srflx"  # the priority's top byte: type preference 100
    assert candidate_kind("nonsense") == "candidate"


def test_a_live_output_shows_a_sentence_where_it_cannot_be_drawn():
    import ipywidgets as widgets
    data = bundle(widgets.HTML("<b>x</b>"), "a live thing")
    assert data["text/plain"] == "a live thing"
    assert "application/vnd.jupyter.widget-view+json" in data
    assert html_bundle("<b>x</b>", "players") == {"text/html": "<b>x</b>", "text/plain": "players"}


async def test_the_notebooks_room_tells_the_truth():
    import re
    async with Lab(stun=True) as lab:
        for name, nat in (("Alice", "full-cone"), ("Bob", "restricted"),
                          ("Charlie", "port-restricted")):
            await lab.join(name, nat=nat, voice=True)
        await lab.wait_connected()
        checklist = DaveChecklist(lab, "Dave")
        dave = await lab.join("Dave", nat="port-restricted")
        before = lab.graph()
        since = time.monotonic()
        await dave.join_voice()
        await lab.wait_connected()
        stats = LinkStatsView(lab, links=list(dave.links.values()))

        # the checklist: every step, and a snapshot that is plain HTML
        assert checklist.done() == ["1", "2", "2b", "3", "4", "5", "6", "7", "8", "9"]
        assert checklist.snapshot().data.count("✔") == 10

        # before and after, as the notebook draws them
        assert before.number_of_edges() == 3 and not before.nodes["Dave"]["in_voice"]
        after = lab.graph()
        assert after.number_of_edges() == 6
        assert {d["route"] for *_, d in after.edges(data=True)} == {"srflx"}
        assert rooms_drawing([before, after], ["before", "after"]).svg.startswith("<svg")

        # the story: the seed's four lanes, only the Dave-Alice call, candidates by kind
        await dave.wait_until(lambda: all(link.candidates_sent for link in dave.links.values()),
                              5, "Dave's candidates")
        arrows = story(lab, people=["Dave", "Alice"], since=since)
        lanes = {n for a in arrows for n in (a.src, a.dst)}
        assert lanes == {"Dave", "Alice", "Signaling server", "STUN server"}
        text = " ".join(a.label for a in arrows)
        assert "Bob" not in text and "Charlie" not in text, text
        labels = [a.label for a in arrows]
        for side in ("to Dave", "from Dave"):
            for kind in ("host", "srflx", "end"):
                assert f"ice-candidate: {kind} ({side})" in labels, (side, kind, labels)
        stun = [a for a in arrows if a.kind == "stun"]
        assert len(stun) == 4  # Alice and Dave each asked once for this call, and were told
        assert all("127.20." in a.label for a in stun if a.src == "STUN server")
        assert [a.kind for a in arrows].count("media") == 2

        # the server relayed, per call, what the self-check counts: 2 + 2 x (2 + 1)
        relayed = [e for e in lab.trace if e.from_ == "server" and e.event.startswith("webrtc")
                   and dave.sid in (e.to, e.peer)]
        assert len(relayed) == 3 * 8
        assert check.relayed_messages(in_voice=3, candidates=2, answer=len(relayed))

        # no live view shows its repr where it cannot be drawn
        import IPython.display
        shown = []
        original = IPython.display.display
        IPython.display.display = lambda data, raw=False, **kw: shown.append((data, kw))
        try:
            checklist._ipython_display_()
            stats._ipython_display_()
        finally:
            IPython.display.display = original
        assert len(shown) == 2
        for data, kw in shown:  # HTML that replaces itself (a display id), never a widget
            assert "text/html" in data and kw["display_id"].startswith("talklab-")
            assert "application/vnd.jupyter.widget-view+json" not in data
            assert not re.search(RAW_REPR, data["text/plain"]), data["text/plain"]
        await stats.wait_readings(1)
    # the lab has closed (the notebook's last cell): the counters keep their calls, stopped
    assert stats.closed and "stopped" in stats.html
    assert all(f"Dave → {name}" in stats.html for name in ("Alice", "Bob", "Charlie"))
