"""Every deviation gets a clear error that says what is allowed, and changes nothing."""

from __future__ import annotations

import pytest

import talklab
from talklab import Lab, LabClosed
from talklab.browser.person import PersonClosed


def test_a_lab_refuses_settings_that_make_no_sense():
    with pytest.raises(TypeError, match=r"stun must be True or False, got 'yes'"):
        Lab(stun="yes")
    with pytest.raises(TypeError, match=r"turn must be True or False"):
        Lab(turn=1)
    with pytest.raises(ValueError, match=r"voice_cap must be a whole number of seats"):
        Lab(voice_cap=0)
    with pytest.raises(ValueError, match=r"redis must be a redis:// URL"):
        Lab(redis="localhost:6379")


async def test_a_nat_refuses_conditions_out_of_range_and_says_the_range():
    async with Lab() as lab:
        with pytest.raises(ValueError, match=r"loss must be from 0 to 1 .*got 1.5"):
            lab.nat("full-cone", loss=1.5)
        with pytest.raises(ValueError, match=r"latency must be from 0 to 10 .*got -0.1"):
            lab.nat("full-cone", latency=-0.1)
        with pytest.raises(ValueError, match=r"jitter must be from 0 to 10"):
            lab.nat("full-cone", jitter=-1)
        with pytest.raises(TypeError, match=r"loss must be a number"):
            lab.nat("full-cone", loss="5 %")
        with pytest.raises(TypeError, match=r"takes latency=, jitter= and loss="):
            lab.nat("full-cone", bandwidth=3)
        with pytest.raises(ValueError, match=r"unknown NAT type 'fullcone'; one of"):
            lab.nat("fullcone")
        assert lab.nats == []  # nothing was made by the refused calls


async def test_waiting_for_a_room_that_cannot_connect_names_the_link_and_the_fix():
    async with Lab() as lab:
        await lab.join("Alice", nat="symmetric", voice=True)
        await lab.join("Bob", nat="symmetric", voice=True)
        with pytest.raises(TimeoutError) as raised:
            await lab.wait_connected(1)
        assert "Alice–Bob" in str(raised.value) and "stun=True" in str(raised.value)
    async with Lab(stun=True) as lab:
        await lab.join("Alice", nat="symmetric", voice=True)
        await lab.join("Bob", nat="symmetric", voice=True)
        with pytest.raises(TimeoutError) as raised:
            await lab.wait_connected(30)  # ICE gives up in about 8 s: said then, not at 30 s
        assert "ICE gave up" in str(raised.value)
        assert "Alice–Bob" in str(raised.value) and "turn=True" in str(raised.value)


async def test_a_replaced_lab_and_its_people_say_so():
    first = await talklab.Lab()
    alice = await first.join("Alice")
    second = await talklab.Lab()  # re-running `lab = await talklab.Lab()` replaces the first
    try:
        with pytest.raises(PersonClosed, match=r"Alice is gone \(their lab was replaced"):
            await alice.join_voice()
        with pytest.raises(LabClosed, match=r"replaced by a newer one .*use the new lab"):
            await first.join("Carol")
        assert not first.running and second.running and first.people == {}
    finally:
        await second.close()
    with pytest.raises(LabClosed, match=r"this lab is closed: run the cell that makes the lab"):
        await second.join("Dan")


async def test_the_socketio_client_libraries_print_nothing_of_their_own(capfd):
    """After the server closes (Step 9), python-engineio's client logs "packet queue is empty,
    aborting" half a minute later; with its own stderr handler that reached the notebook."""
    async with Lab() as lab:
        alice = await lab.join("Alice")
        for logger in (alice.sio.logger, alice.sio.eio.logger):
            assert logger.name.startswith("talklab.")
            logger.error("packet queue is empty, aborting")
    assert "packet queue" not in capfd.readouterr().err


async def test_a_link_asked_of_someone_whose_lab_was_replaced_says_so():
    first = await Lab()
    alice = await first.join("Alice", voice=True)
    second = await Lab()  # a later cell replaced the lab
    try:
        with pytest.raises(KeyError, match=r"Alice is gone .*replaced"):
            alice.link_to("Dave")
    finally:
        await second.close()
