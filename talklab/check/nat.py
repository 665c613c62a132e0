"""Notebook 06's questions and code exercises (see :mod:`talklab.check.feedback` and
:mod:`talklab.check.exercise`).

* :func:`allows` — the learner writes a NAT's filtering rule (address-dependent: the
  "restricted" NAT); the simulator applies it to real packets (``box.table.rule``, see
  :mod:`talklab.nat.behaviour`), and the check sends real datagrams at the NAT from a peer the
  host has sent to, from another port of it, and from a stranger, then makes a live call across
  it from behind a symmetric NAT;
* :data:`turn_bytes` — how many bytes does the TURN server send to carry one packet?

Tested in tests/test_exercises_06.py (notebook 06's exercise run on real packets with the answer
key, the stub and the other classic filters; ``turn_bytes`` judged).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from talklab.address import Address
from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback, Spec, Whole, question
from talklab.nat import Host, Nat, NatTransport
from talklab.tasks import within

__all__ = ["allows", "turn_bytes"]

WAIT = 2.0  # s for a datagram on loopback: far more than it takes


async def allows(function: Any) -> Feedback:
    """Put your ``allows(sent_to, remote)`` in a NAT and send it real packets.

    ``sent_to`` is the set of (ip, port) the host has sent to through this mapping; ``remote``
    is where an arriving packet comes from; return True to let it in. Right when the NAT behaves
    as an address-dependent filter: a reply from an IP the host has sent to gets in (from any
    port), a stranger's packet does not, and a call from behind a symmetric NAT connects."""
    return await run(function, _live_filter, name="allows", timeout=40)


@dataclass
class _Case:
    sender: str  # "friend", "friend's other port", "stranger"
    what: str  # the situation, for the learner
    expected: bool
    hint: str  # what to look at when the rule decides otherwise


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.queue.put_nowait((data, addr[:2]))


class _Recorder:
    """The learner's rule as the NAT calls it, with each decision kept and announced."""

    def __init__(self, function: Callable[[frozenset[Address], Address], Any]) -> None:
        self.function = function
        self.decisions: asyncio.Queue[tuple[Address, Any]] = asyncio.Queue()
        self.let_in = self.dropped = 0

    def __call__(self, sent_to: frozenset[Address], remote: Address) -> Any:
        try:
            verdict = self.function(sent_to, remote)
        except Exception as exc:
            self.decisions.put_nowait((remote, exc))
            raise  # the NAT drops the packet and notes the error (table.rule_error)
        self.decisions.put_nowait((remote, verdict))
        if verdict:
            self.let_in += 1
        else:
            self.dropped += 1
        return verdict


async def _socket(address: str) -> tuple[asyncio.DatagramTransport, _Inbox]:
    transport, inbox = await asyncio.get_running_loop().create_datagram_endpoint(
        _Inbox, local_addr=(address, 0))
    return transport, inbox


CASES = [
    _Case("friend", "a reply from the address and port the host sent to", True,
          "a reply from the very address and port the host had sent to was dropped: every "
          "NAT lets that in, or no conversation could start. `sent_to` is a set of "
          "(ip, port) pairs; `remote` is one (ip, port)."),
    _Case("friend's other port", "a packet from the same IP, another port", True,
          "a packet from an IP the host has sent to, but from another port, was dropped: that "
          "is port-restricted (address-and-port-dependent) filtering. Address-dependent "
          "filtering asks only whether the host has sent to that IP, whatever the port: which "
          "part of `remote` does it look at?"),
    _Case("stranger", "a packet from an IP the host never sent to", False,
          "a stranger, from an IP the host never sent to, got in: that is full-cone "
          "(endpoint-independent) filtering. Only IPs in sent_to may come in."),
    _Case("stranger, now known", "the same stranger's IP, after the host sent to it (from "
          "another port)", True,
          "the host has now sent to the stranger's IP, yet a packet from it was dropped: "
          "decide from `sent_to`, which the NAT hands you with each packet, not from addresses "
          "of your own."),
]


PORT_ONLY = ("your rule lets in a stranger, an IP the host never sent to, whose port number "
             "happens to be one the host sent to, and drops that same stranger from another "
             "port: it looks at the port alone. Which part of an address says *who* is "
             "sending?")


def _port_only(function: Any) -> bool:
    """Does the rule judge by the port number alone (a stranger on a known port gets in)?"""
    sent_to = frozenset({("127.10.0.5", 5000)})
    try:
        return bool(function(sent_to, ("127.10.0.99", 5000)) is True
                    and function(sent_to, ("127.10.0.99", 5001)) is False)
    except Exception:
        return False


async def _packets(function: Any) -> Feedback | None:
    """The four datagrams of :data:`CASES`, through a real NAT box; None when all went right."""
    if _port_only(function):
        return Feedback(NOT_YET, PORT_ONLY)
    box = Nat("restricted")  # endpoint-independent mapping; the filter is the learner's
    recorder = _Recorder(function)
    box.table.rule = recorder
    host, friend, stranger = box.host(), Host(), Host()
    sockets: list[asyncio.DatagramTransport] = []
    try:
        inside, inbox = await _socket(host.address)
        sockets.append(inside)
        out = NatTransport(inside, host, inbox.datagram_received)
        senders = {}
        for name, address in (("friend", friend.address), ("friend's other port",
                              friend.address), ("stranger", stranger.address),
                              ("stranger, now known", stranger.address)):
            transport, peer_inbox = await _socket(address)
            sockets.append(transport)
            senders[name] = (transport, peer_inbox)
        friend_socket, friend_inbox = senders["friend"]
        out.sendto(b"hello", friend_socket.get_extra_info("sockname")[:2])
        _, public = await within(friend_inbox.queue.get(), WAIT)  # the mapping
        for case in CASES:
            if case.sender == "stranger, now known":  # the host writes to the stranger's IP
                out.sendto(b"hi", senders["stranger"][0].get_extra_info("sockname")[:2])
            senders[case.sender][0].sendto(case.sender.encode(), public)
            _remote, verdict = await within(recorder.decisions.get(), WAIT)
            if isinstance(verdict, Exception):
                return Feedback(NOT_YET, f"on {case.what}, your rule raised "
                                f"{type(verdict).__name__}: {verdict}; the NAT dropped the "
                                "packet (a NAT that cannot decide lets nothing in).")
            if not isinstance(verdict, bool):
                return Feedback(NOT_YET, f"on {case.what}, your rule returned "
                                f"{type(verdict).__name__} {verdict!r}: return True (let it "
                                "in) or False (drop it).")
            if verdict:
                await within(inbox.queue.get(), WAIT)  # it really arrived inside
            if verdict != case.expected:
                return Feedback(NOT_YET, f"real packets through your NAT: {case.hint}")
        return None
    finally:
        for transport in sockets:
            transport.close()
        box.close()
        friend.close()
        stranger.close()


async def _call(function: Any) -> Feedback:
    """A live call: Alice behind the learner's filter, Bob behind a symmetric NAT, STUN only."""
    from talklab.lab.lab import (
        Lab,  # (a lab only when the check runs: importing checks stays light)
    )

    recorder = _Recorder(function)
    async with Lab(stun=True, check_retries=2) as lab:
        box = lab.nat("restricted")
        box.table.rule = recorder
        alice = await lab.join("Alice", nat=box, voice=True)
        await lab.join("Bob", nat="symmetric", voice=True)
        try:
            await lab.wait_connected(10)
        except TimeoutError:
            return Feedback(NOT_YET, "single packets went right, but a live call from behind "
                            "a symmetric NAT did not connect across your NAT: Bob's NAT sends "
                            "each of his checks from a new port. Should that matter to a "
                            "filter that looks only at IPs?")
        route = alice.link_to("Bob").route
    return Feedback(RIGHT, "an address-dependent filter: replies from an IP the host has sent "
                    "to get in from any port, strangers do not. In a live call from behind a "
                    f"symmetric NAT your rule decided {recorder.let_in + recorder.dropped} "
                    f"packets ({recorder.let_in} let in, {recorder.dropped} dropped) and the "
                    f"call connected ({route}): Bob's NAT sends from a new port for each "
                    "destination, but always from the same IP, so an address-dependent filter "
                    "lets him in where a port-restricted one would not.")


async def _live_filter(function: Any) -> Feedback:
    if inspect.iscoroutinefunction(function):
        return Feedback(NOT_YET, "write the rule as a plain `def`, not `async def`: a NAT "
                        "decides each packet on the spot, it cannot wait.")
    probe = await call(function, frozenset({("192.0.2.1", 3478)}), ("192.0.2.1", 3478))
    if not isinstance(probe, bool):
        return Feedback(NOT_YET, f"return True (let the packet in) or False (drop it); yours "
                        f"returned {type(probe).__name__} {probe!r}.")
    wrong = await _packets(function)
    return wrong if wrong is not None else await _call(function)


# -- a self-check --------------------------------------------------------------------------------
@question(Whole())
def turn_bytes(payload: int = 160, channel: bool = True) -> Spec:
    """A peer's packet of ``payload`` bytes reaches the relay; how many bytes does the TURN
    server send to the client over UDP: as ChannelData (``channel``) or inside a Data
    indication?"""
    if channel:
        expected = payload + 4
        why = (f"{payload} + 4: ChannelData is a 4-byte header (channel number, length) and "
               "the data.")
    else:
        padded = payload + (-payload % 4)
        expected = 20 + 12 + 4 + padded
        why = (f"20 (STUN header) + 12 (XOR-PEER-ADDRESS: 4 of attribute header, 8 of IPv4 "
               f"address) + 4 (DATA's header) + {padded} (the data, padded to 4) = {expected}.")
    return Spec(expected, why,
                "the server sends the data plus its own framing: count every header that "
                "wraps it (for an indication: the STUN header, the peer's address as an "
                "attribute, and the DATA attribute's own header; attributes pad to 4 bytes).")
