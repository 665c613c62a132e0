"""Notebook 10's self-check and its code exercise, run live with the answer key and the stub."""

from __future__ import annotations

from helpers import answer_key

from talklab import check

answers = answer_key("10")


def test_calls_across_is_worked_out():
    assert check.calls_across(6, 2, answer=9)
    wrong = check.calls_across(6, 2, answer=6)
    assert not wrong and "9" not in wrong.message
    assert check.calls_across(6, 2, answer="9").verdict == "wrong type"
    assert "9" in check.reveal(check.calls_across, 6, 2).message


async def test_routing_by_room_keeps_every_relay_on_one_server():
    feedback = await check.server_for(answers.server_for)
    assert feedback, feedback.message


async def test_routing_by_address_is_told_what_it_costs():
    def by_address(request, servers):  # a common default: hash the visitor's address
        return int(request["address"].split(".")[-1]) % servers

    said = await check.server_for(by_address)
    assert not said and "cross" in said.message and "room" not in said.message.split(".")[0]


async def test_the_stub_and_out_of_range_answers():
    def stub(request, servers):
        raise NotImplementedError

    assert "stub" in (await check.server_for(stub)).message
    assert "0 or 1" in (await check.server_for(lambda request, servers: 2)).message
    assert "same server" in (await check.server_for(lambda request, servers: 0)).message


async def test_pythons_own_hash_of_the_room_is_told_why_it_is_not_enough():
    """hash(str) is salted per process (PYTHONHASHSEED): two load balancers would disagree."""
    def by_hash(request, servers):
        return hash(request["room"]) % servers

    said = await check.server_for(by_hash)
    assert not said and "PYTHONHASHSEED" in said.message and "crc32" not in said.message


async def test_a_rule_by_address_is_told_it_splits_a_room():
    """A rule by address was told "every room lands on the same server" (the check's three
    addresses happened to fall on one server): the hint described the test data."""
    import zlib

    def by_address(request, servers):
        return zlib.crc32(request["address"].encode()) % servers
    said = await check.server_for(by_address)
    assert not said, said.message  # (it crosses, or, on these addresses, looks as if not)
    assert "people of one room to different servers" in said.message or "cross" in said.message
