"""Notebook 04's questions and code exercises (see :mod:`talklab.check.feedback` and
:mod:`talklab.check.exercise`).

* :func:`xor_mapped_address` — the learner decodes XOR-MAPPED-ADDRESS from the attribute's
  bytes; the check asks a real STUN server "what's my public address?" from behind a real
  (simulated) NAT and decodes the live answer with the learner's function;
* :data:`which_nat` — from what RFC 5780's tests saw, which kind of NAT is it?

Tested in tests/test_exercises_04.py (notebook 04's exercise run live against a real STUN server
with the answer key and the stub, and its self-checks).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from aioice import stun as aioice_stun

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, OneOf, Spec, question
from talklab.nat import Nat
from talklab.stun import StunServer, binding, dissect
from talklab.stun.dissect import MAGIC_COOKIE

__all__ = ["which_nat", "xor_mapped_address"]

IPV6_EXAMPLE = ("2001:db8:cafe::17", 50_000)  # a documentation address (RFC 3849)


async def xor_mapped_address(function: Any) -> Feedback:
    """Run your ``xor_mapped_address(value, transaction_id)`` on a live Binding response.

    The check starts a STUN server of its own, puts a host behind a port-restricted NAT, sends
    a real Binding request through the NAT and hands your function the XOR-MAPPED-ADDRESS
    value (the attribute's bytes, without its 4-byte header) and the response's transaction
    ID. Right when it gives the NAT's public address and port: the mapping the NAT made."""
    return await run(function, _live_xor, name="xor_mapped_address")


def _attribute(response: bytes, name: str) -> tuple[bytes, bytes]:
    """The raw value of attribute ``name`` in a STUN message, and its transaction ID."""
    d = dissect(response)
    value = next(a.raw for a in d.attributes if a.name == name)
    return value, bytes.fromhex(d.transaction_id)


def _shape(got: Any) -> str | None:
    """What is wrong with the *kind* of value returned, if anything."""
    if got is None:
        return "your function returned None: did it end without `return ip, port`?"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return (f"return two things, the address and the port (`return ip, port`); yours "
                f"returned {type(got).__name__} {got!r}.")
    ip, port = got
    if isinstance(ip, int) and not isinstance(ip, bool) and isinstance(port, str):
        return ("your function returned the port first and the address second: return "
                "(address, port), e.g. ('192.0.2.7', 3478).")
    if isinstance(ip, (bytes, bytearray)):
        return ("the address came back as bytes; return it as text such as '192.0.2.7' "
                "(ipaddress.ip_address(four_bytes) turns bytes into an address; str() of "
                "that is the text).")
    if not isinstance(ip, str):
        if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return "nearly: return the address as text, str(address), not the object."
        return f"the address should be text such as '192.0.2.7', not {type(ip).__name__}."
    if isinstance(port, bool) or not isinstance(port, int):
        return (f"the port should be a whole number, not {type(port).__name__} "
                "(int.from_bytes(two_bytes, 'big') reads one).")
    return None


def _as_sent(value: bytes) -> tuple[str, int] | None:
    """The address and port as they travel, not XORed back (what a first try often returns)."""
    try:
        return str(ipaddress.ip_address(value[4:8])), struct.unpack("!H", value[2:4])[0]
    except ValueError:
        return None


def _port_hint(value: bytes, port: int) -> str:
    sent = struct.unpack("!H", value[2:4])[0]
    if port == sent:
        return ("your port is the number exactly as it travels: it is still XORed, with "
                "the most significant 16 bits of the magic cookie (RFC 5389, 15.2). What undoes "
                "an XOR?")
    if port == struct.unpack("<H", value[2:4])[0] ^ 0x2112 or port == sent ^ 0x1221:
        return ("the port's two bytes are read in the wrong order: network byte order is "
                "big-endian (int.from_bytes(..., 'big')).")
    return ("the port is wrong: it sits in bytes 2 and 3 of the value (after a reserved byte "
            "and the family byte), big-endian, XORed with the cookie's top 16 bits.")


def _ip_hint(value: bytes, ip: str) -> str:
    try:
        sent = str(ipaddress.ip_address(value[4:8]))
    except ValueError:
        sent = None
    if ip == sent:
        return ("your address is the four bytes exactly as they travel: still XORed. XOR "
                "them, byte by byte, with the magic cookie's four bytes (21 12 a4 42).")
    if "." not in ip:  # hex or digits: perhaps the right four bytes, in another form
        return (f"the address should be dotted text, such as '192.0.2.7': yours is {ip!r}. "
                "ipaddress.ip_address() takes four bytes (or one number) and str() of what "
                "it returns is that text.")
    return ("the address is wrong: it is the last four bytes of the value, each XORed with "
            "the matching byte of the magic cookie 0x2112A442.")


def _encoded(address: tuple[str, int]) -> tuple[bytes, bytes]:
    """An XOR-MAPPED-ADDRESS value for ``address``, as aioice writes it, and its transaction ID."""
    message = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE)
    message.attributes["XOR-MAPPED-ADDRESS"] = address
    return _attribute(bytes(message), "XOR-MAPPED-ADDRESS")


async def _ipv6_bonus(function: Any) -> str:
    """A note on whether ``function`` also decodes an IPv6 address (not required)."""
    value, transaction_id = _encoded(IPV6_EXAMPLE)
    try:
        got = await call(function, value, transaction_id)
    except Exception:
        got = None
    if isinstance(got, tuple) and len(got) == 2 and \
            str(got[0]) == IPV6_EXAMPLE[0] and got[1] == IPV6_EXAMPLE[1]:
        return " It decodes IPv6 too, where the 16 address bytes are XORed with the cookie " \
               "followed by the transaction ID."
    return (" (A bonus, not needed here: an IPv6 address has 16 bytes, XORed with the cookie "
            "followed by the 12-byte transaction ID; family byte 2. Yours does not decode "
            "one yet.)")


async def _live_xor(function: Any) -> Feedback:
    # a stub should say "not yet" at once, before any server starts
    await call(function, *_encoded(("192.0.2.1", 3478)))
    server = StunServer(alternate_host=None)
    box = Nat("port-restricted")
    host = box.host()
    try:
        await server.start()
        exchange = await binding(server.address, host=host, timeout=2.0)
        if exchange.response is None:
            raise RuntimeError("the STUN server did not answer (this is talklab's fault, "
                               "not yours): run the check again")
        value, transaction_id = _attribute(exchange.response, "XOR-MAPPED-ADDRESS")
        public = next(iter(box.table.by_public))  # the one mapping the request made
        got = await call(function, value, transaction_id)
    finally:
        await server.close()
        box.close()
    wrong_shape = _shape(got)
    if wrong_shape:
        return Feedback(NOT_YET, wrong_shape)
    ip, port = got
    if (ip, port) == tuple(public):
        bonus = await _ipv6_bonus(function)
        return Feedback(RIGHT, f"from behind a port-restricted NAT the server saw "
                        f"{ip}:{port}: the NAT's public address and the port of the mapping "
                        f"it made for this host ({exchange.local[0]} inside). That is the "
                        f"srflx candidate ICE will offer.{bonus}")
    if ip == public[0]:
        return Feedback(NOT_YET, "the address is right; " + _port_hint(value, port))
    if port == public[1]:
        return Feedback(NOT_YET, "the port is right; " + _ip_hint(value, ip))
    if (ip, port) == _as_sent(value):
        return Feedback(NOT_YET, "you read the address and the port exactly as they travel: "
                        "both are still XORed. XOR the port with 0x2112 and each address byte "
                        "with the matching byte of the magic cookie (21 12 a4 42).")
    return Feedback(NOT_YET, "neither the address nor the port is right yet. The value is: "
                    "1 reserved byte, 1 family byte (1 = IPv4), 2 bytes of port, then the "
                    "address; port and address are XORed with the magic cookie "
                    f"0x{MAGIC_COOKIE:08X} (the port with its top 16 bits).")


# -- a self-check --------------------------------------------------------------------------------
CLASSIC = ("full-cone", "restricted", "port-restricted", "symmetric")


@question(OneOf(CLASSIC))
def which_nat(same_public_port: bool, answer_from_other_address: bool,
              answer_from_other_port: bool) -> Spec:
    """RFC 5780's tests saw this: did the NAT give the host the same public port whatever
    server it asked (``same_public_port``)? Did an answer sent from the server's other IP
    *and* port get in (``answer_from_other_address``)? One from the same IP, other port
    (``answer_from_other_port``)? Which of the classic NAT types is it?"""
    if not same_public_port:
        expected = "symmetric"
        if answer_from_other_address or answer_from_other_port:
            raise ValueError("the classic types filter a symmetric NAT by address and port: "
                             "no answer from another address or port gets in")
    elif answer_from_other_address:
        expected = "full-cone"
        if not answer_from_other_port:
            raise ValueError("a filter that lets in another IP lets in another port too")
    else:
        expected = "restricted" if answer_from_other_port else "port-restricted"
    behaviour = {
        "full-cone": "one mapping for all, and anyone may send to it",
        "restricted": "one mapping for all; only IPs the host has sent to may answer, from "
                      "any port",
        "port-restricted": "one mapping for all; only the exact address and port the host "
                           "sent to may answer",
        "symmetric": "a new mapping (a new public port) for every destination",
    }[expected]
    return Spec(expected, f"{expected}: {behaviour}.",
                "take the two behaviours in turn. Mapping: does the host keep one public "
                "port whoever it talks to? If not, that alone names the type. Filtering: "
                "which answers got in through a fresh mapping: from anywhere, from the IP "
                "it sent to (any port), or only from the exact address and port?")
