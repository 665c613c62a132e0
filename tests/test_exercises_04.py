"""Notebook 04 (STUN, the mirror): its code exercise run live with the answer key's solution and
with the stub, its self-checks judged, and the pieces of talklab it shows."""

from __future__ import annotations

import ipaddress
import re

import pytest
from helpers import answer_key

from talklab import check, stun
from talklab.nat import Nat, detect_nat

answers = answer_key("04")
RAW_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|\b(?:[A-Z]\w+)\((?:\w+=)")


def stub(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    raise NotImplementedError


def not_xored(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """Reads the address and port exactly as they travel: the classic first try."""
    return str(ipaddress.ip_address(value[4:8])), int.from_bytes(value[2:4], "big")


def port_only(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    return str(ipaddress.ip_address(value[4:8])), int.from_bytes(value[2:4], "big") ^ 0x2112


async def test_the_answer_key_decodes_a_live_answer_from_behind_a_nat():
    feedback = await check.xor_mapped_address(answers.xor_mapped_address)
    assert feedback, feedback
    assert "127.20." in feedback.message and "IPv6 too" in feedback.message


async def test_the_stub_is_not_yet_and_says_so_at_once():
    feedback = await check.xor_mapped_address(stub)
    assert not feedback and feedback.verdict == "not yet" and "stub" in feedback.message


def hex_text(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """XORs the right bytes, and returns them as hex text (walk2 04-6: told its XOR was wrong)."""
    ip = int.from_bytes(value[4:8], "big") ^ 0x2112A442
    return hex(ip), int.from_bytes(value[2:4], "big") ^ 0x2112


@pytest.mark.parametrize("wrong, says", [(not_xored, "still XORed"),
                                         (port_only, "the port is right"),
                                         (hex_text, "dotted text")])
async def test_a_wrong_decoder_gets_a_hint_not_the_address(wrong, says):
    feedback = await check.xor_mapped_address(wrong)
    assert not feedback and says in feedback.message, feedback.message
    assert "127.20." not in feedback.message  # the NAT's public address is the answer


@pytest.mark.parametrize("returned, says", [(None, "returned None"), ((b"\x7f\0\0\1", 1), "bytes"),
                                            (("127.0.0.1", "80"), "whole number"),
                                            ("127.0.0.1:80", "two things")])
async def test_a_wrong_kind_of_answer_is_explained(returned, says):
    feedback = await check.xor_mapped_address(lambda value, tid: returned)
    assert not feedback and says in feedback.message, feedback.message


async def test_an_ipv4_only_decoder_is_right_with_a_note_on_ipv6():
    feedback = await check.xor_mapped_address(lambda v, t: answers.xor_mapped_address(v[:8], t))
    assert feedback and "bonus" in feedback.message


@pytest.mark.parametrize("params, right, wrong, badly_typed", [
    (dict(same_public_port=True, answer_from_other_address=False, answer_from_other_port=True),
     "restricted", "port-restricted", 2),
    (dict(same_public_port=False, answer_from_other_address=False, answer_from_other_port=False),
     "symmetric", "restricted", True),
    (dict(same_public_port=True, answer_from_other_address=True, answer_from_other_port=True),
     "Full-Cone", "symmetric", None),
    (dict(same_public_port=True, answer_from_other_address=False,
          answer_from_other_port=False), "port-restricted", "full-cone", ["port-restricted"]),
])
def test_which_nat_judges_hints_and_reveals(params, right, wrong, badly_typed):
    assert check.which_nat(**params, answer=right)
    feedback = check.which_nat(**params, answer=wrong)
    assert feedback.verdict == "not yet" and right.lower() not in feedback.message.lower()
    if badly_typed is not None:
        assert check.which_nat(**params, answer=badly_typed).verdict == "wrong type"
    assert check.which_nat(**params, answer=None).verdict == "pending"
    assert right.lower() in check.reveal(check.which_nat, **params).message.lower()


def test_which_nat_refuses_what_no_classic_nat_does():
    with pytest.raises(ValueError):
        check.which_nat(same_public_port=False, answer_from_other_address=False,
                        answer_from_other_port=True, answer="symmetric")


def test_the_xor_port_warm_up_is_worked_out_not_read():
    assert check.xor_port(0xA147, answer=0xA147 ^ 0x2112)
    wrong = check.xor_port(0xA147, answer=0xA147)
    assert not wrong and str(0xA147 ^ 0x2112) not in wrong.message
    assert check.xor_port(0xA147, answer="32853").verdict == "wrong type"


@pytest.mark.parametrize("kind, same", [("port-restricted", True), ("symmetric", False)])
async def test_one_socket_asking_two_servers_shows_the_mapping(kind, same):
    async with stun.StunServer() as server:
        assert server.endpoints is not None
        primary = server.endpoints.primary
        box = Nat(kind)
        try:
            exchanges = await stun.bindings([primary, server.endpoints.other(primary)],
                                            host=box.host())
        finally:
            box.close()
    seen = [stun.dissect(e.response)["XOR-MAPPED-ADDRESS"] for e in exchanges]
    assert len({e.local for e in exchanges}) == 1  # one socket
    assert all(ip == box.public_ip for ip, _ in seen)
    assert (seen[0] == seen[1]) is same
    assert len(box.table.rows()) == (1 if same else 2)  # the table stays readable after close


async def test_what_the_notebook_shows_of_stun_is_no_raw_repr():
    async with stun.StunServer() as server:
        exchange = await stun.binding(server.address)
        report = await detect_nat(server.address, "symmetric")
    answer = stun.dissect(exchange.response)
    for shown in (repr(answer), answer._repr_html_(), repr(report), report._repr_html_()):
        assert not RAW_REPR.search(shown), shown
    html = answer._repr_html_()
    assert f"{exchange.local[0]}:{exchange.local[1]}" in html  # an address reads as ip:port
    assert "('" not in html


async def test_offsets_that_count_the_header_get_a_hint_and_no_line_of_python():
    """04 answered `value[8:12]` (the header counted in the offsets) with "line 54, in
    ip_address", a line of Python's own ipaddress module."""
    import ipaddress

    def shifted(value, transaction_id):
        port = int.from_bytes(value[6:8], "big") ^ 0x2112
        return str(ipaddress.ip_address(value[8:12])), port
    said = await check.xor_mapped_address(shifted)
    assert not said and "in ip_address" not in said.message
    assert "type-and-length header" in said.message, said.message

    def swapped(value, transaction_id):
        port = int.from_bytes(value[2:4], "big") ^ 0x2112
        return port, "192.0.2.1"
    said = await check.xor_mapped_address(swapped)
    assert not said and "port first" in said.message
