"""Notebook 11's self-check and its code exercise, run live with the answer key and the stub."""

from __future__ import annotations

from helpers import answer_key

from talklab import check

answers = answer_key("11")


def test_janus_sends_is_worked_out():
    assert check.janus_sends(6, answer=30)
    wrong = check.janus_sends(6, answer=15)
    assert not wrong and "30" not in wrong.message and "pairs" in wrong.message
    assert check.janus_sends(6, answer=30.0).verdict == "wrong type"
    assert "30" in check.reveal(check.janus_sends, 6).message


async def test_the_answer_key_matches_rooms_that_ran():
    feedback = await check.streams_for(answers.streams_for)  # rooms of four, live
    assert feedback, feedback.message
    assert "mesh n=4" in feedback.message


async def test_the_stub_and_the_usual_mistakes_are_told_why():
    def stub(topology, n):
        raise NotImplementedError("your code here")

    def mesh_everywhere(topology, n):
        return (n - 1, n - 1)

    rows = [{"topology": "mesh", "n": 3, "up streams": 2, "down streams": 2},
            {"topology": "sfu", "n": 3, "up streams": 1, "down streams": 2}]
    assert "stub" in (await check.streams_for(stub, measured=rows)).message
    said = await check.streams_for(mesh_everywhere, measured=rows)
    assert not said and "for sfu, n=3, your upload" in said.message
    said = await check.streams_for(lambda t, n: "1, 2", measured=rows)
    assert "two whole numbers" in said.message


ROWS = [{"topology": "mesh", "n": 3, "up streams": 2, "down streams": 2},
        {"topology": "sfu", "n": 3, "up streams": 1, "down streams": 2},
        {"topology": "mcu", "n": 3, "up streams": 1, "down streams": 1}]


async def test_a_swapped_pair_and_unrecognised_names_are_said_so():
    """A swapped SFU pair was asked about the download; upper-case names (every topology falls
    to one branch) got the mesh's reasoning."""
    def swapped(topology, n):
        return {"mesh": (n - 1, n - 1), "sfu": (n - 1, 1), "mcu": (1, 1)}[topology]
    said = await check.streams_for(swapped, measured=ROWS)
    assert not said and "other way round" in said.message

    def shouting(topology, n):
        if topology == "MESH":
            return (n - 1, n - 1)
        if topology == "SFU":
            return (1, n - 1)
        return (1, 1)
    said = await check.streams_for(shouting, measured=ROWS)
    assert not said and "recognise the names" in said.message
