"""The relay rule: who may send an offer, an answer or an ICE candidate to whom.

The seed's server relays blindly: ``socket.to(to).emit(...)`` with whatever socket id the
client names, so anyone connected can push SDP at anyone, in any room. talklab relays only
**between two different members of the same room who are both in voice**. That is the
signaling server's main security property, so it is written once, here, as a pure function
of two plain values (:class:`.member.Member`), and every store asks it:

* :class:`.rooms.Rooms` (the memory store, one server),
* :class:`.replica.Replica` (each server's copy of the Redis rooms), and
* the Redis store's fallback, which reads both members from Redis when the replica refuses
  (a replica may not know people older than itself).

The checks run in this order, and the first that fails is the answer:

==========================  ===========================================
sender unknown              ``join a room first``
sender not in voice         ``you are not in voice``
target is the sender        ``cannot signal yourself``
target unknown              ``no member <to> in room <room>``
target in another room      ``no member <to> in room <room>``
target not in voice         ``<to> is not in voice``
==========================  ===========================================

(An unknown target and a target in another room get the same words on purpose: a sender
learns nothing about rooms it is not in.)
"""

from __future__ import annotations

from .member import Member, RoomError


def refusal(sender: Member | None, to: str, target: Member | None) -> str | None:
    """Why relaying from ``sender`` to the socket ``to`` is refused, or None if it is allowed.

    ``sender`` and ``target`` are the two members as the store knows them (None: not in any
    room); ``to`` is the socket id the client named (``target`` is the store's member for it).
    """
    if sender is None:
        return "join a room first"
    if not sender.in_voice:
        return "you are not in voice"
    if to == sender.sid:
        return "cannot signal yourself"
    if target is None or target.room != sender.room:
        return f"no member {to} in room {sender.room}"
    if not target.in_voice:
        return f"{to} is not in voice"
    return None


def check(sender: Member | None, to: str, target: Member | None) -> tuple[Member, Member]:
    """``(sender, target)`` if the relay is allowed; otherwise :class:`.member.RoomError` with
    the refusal as its message."""
    why = refusal(sender, to, target)
    if why is not None:
        raise RoomError(why)
    assert sender is not None and target is not None  # (refusal() said so)
    return sender, target
