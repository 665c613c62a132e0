"""Notebook 07 (the packets of a voice): its code exercise run live on a recorded call with the
answer key, the stub and the usual mistakes."""

from __future__ import annotations

import asyncio

import pytest
from helpers import answer_key, recorded_call

from talklab import Lab, check

answers = answer_key("07")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """A two-person call, recorded from Alice's machine for a second of audio (once for the
    file: its files outlive the lab)."""
    path = tmp_path_factory.mktemp("capture") / "call.pcapng"

    async def record():
        async with Lab() as lab:
            _, _, files = await recorded_call(lab, path, 1.0)
        return files
    return asyncio.run(record())


def stub(packet: bytes) -> dict:
    raise NotImplementedError


def little_endian(packet: bytes) -> dict:
    right = answers.rtp_header(packet)
    return {**right, "sequence": int.from_bytes(packet[2:4], "little")}


def whole_byte_type(packet: bytes) -> dict:
    return {**answers.rtp_header(packet), "payload_type": packet[1]}


def whole_byte_version(packet: bytes) -> dict:
    return {**answers.rtp_header(packet), "version": packet[0]}


async def test_the_answer_key_reads_every_header_of_a_live_call(capture):
    feedback = await check.rtp_header(answers.rtp_header, capture)
    assert feedback, feedback
    assert "payload type 96" in feedback.message and "timestamps 960 apart" in feedback.message


async def test_the_stub_is_not_yet_and_says_so_at_once(capture):
    feedback = await check.rtp_header(stub, capture)
    assert not feedback and "stub" in feedback.message


@pytest.mark.parametrize("wrong, says", [
    (little_endian, "wrong order"), (whole_byte_type, "seven bits"),
    (whole_byte_version, "top two bits"),
    (lambda packet: [packet[0] >> 6], "return a dict"),
    (lambda packet: {"version": 2}, "your dict has no marker")])
async def test_a_wrong_reader_gets_a_hint_not_the_value(capture, wrong, says):
    feedback = await check.rtp_header(wrong, capture)
    assert not feedback and says in feedback.message, feedback.message


async def test_an_empty_capture_says_to_record_first(tmp_path):
    from talklab.media_plane.capture import CaptureFiles

    class Host:
        tap = None
    files = CaptureFiles(Host(), tmp_path / "empty.pcapng", "Alice")
    files.close()
    feedback = await check.rtp_header(answers.rtp_header, files)
    assert not feedback and "record" in feedback.message


@pytest.mark.parametrize("wrong, says", [
    (lambda p: {**answers.rtp_header(p), "ssrc": p[8:12]}, "must be a number"),
    (lambda p: {**answers.rtp_header(p), "version": p[0] & 0xC0}, "move them down"),
    (lambda p: {**answers.rtp_header(p), "timestamp": int.from_bytes(p[4:9], "big")},
     "bytes 4 to 7")])
async def test_the_hint_says_where_and_how_never_the_value(capture, wrong, says):
    feedback = await check.rtp_header(wrong, capture)
    assert not feedback and says in feedback.message, feedback.message
