"""A server's replica of the rooms in Redis, driven by hand: no Redis, no sockets."""

from __future__ import annotations

import random

import pytest

from talklab.server.replica import Replica, deletion, upsert
from talklab.server.rooms import Member, RoomError


def alice(room: str = "R", voice: bool = True) -> Member:
    return Member("sid-a", "u1", "Alice", room, voice)


def bob(room: str = "R", voice: bool = True) -> Member:
    return Member("sid-b", "u2", "Bob", room, voice)


def test_announcements_in_order_build_the_rooms():
    r = Replica()
    assert r.apply(upsert(1, alice(voice=False), "one", seq=1))
    assert r.apply(upsert(2, bob(voice=False), "two", seq=2))
    with pytest.raises(RoomError, match="not in voice"):
        r.rooms.check_relay("sid-a", "sid-b")
    r.apply(upsert(3, alice(), "one", seq=1))
    r.apply(upsert(4, bob(), "two", seq=2))
    assert r.rooms.check_relay("sid-a", "sid-b")[1].username == "Bob"
    assert r.server_of == {"sid-a": "one", "sid-b": "two"}
    assert [m.username for m in r.in_room("R")] == ["Alice", "Bob"]
    r.apply(deletion(5, "sid-b"))
    with pytest.raises(RoomError, match="no member"):
        r.rooms.check_relay("sid-a", "sid-b")
    assert "sid-b" not in r.server_of and r.version == 5


def test_moving_rooms_moves_the_member():
    r = Replica()
    r.apply(upsert(1, alice(), "one", seq=1))
    r.apply(upsert(2, bob(), "one", seq=2))
    r.apply(upsert(3, bob("S", voice=False), "one", seq=3))
    assert [m.username for m in r.in_room("R")] == ["Alice"]
    assert [m.username for m in r.in_room("S")] == ["Bob"]


def test_own_changes_apply_at_once_and_older_news_cannot_undo_them():
    r = Replica()
    r.apply(upsert(1, alice(), "one", seq=1))
    # Server one just put Bob in voice (version 3). An older announcement about Bob (which
    # cannot really follow: only Bob's server announces Bob) would change nothing.
    assert r.apply_own(upsert(3, bob(), "one", seq=2))
    assert r.rooms.check_relay("sid-a", "sid-b")
    assert not r.apply(upsert(2, bob(voice=False), "one", seq=2))
    assert r.rooms.members["sid-b"].in_voice and r.version == 3
    assert r.apply_own(deletion(4, "sid-b"))  # Bob hung up: nothing of him is kept
    assert "sid-b" not in r.rooms.members and "sid-b" not in r._ver


def test_a_snapshot_skips_what_it_already_holds():
    r = Replica()
    r.load(10, [upsert(4, alice(), "one", seq=1), upsert(9, bob(voice=False), "two", seq=2)])
    assert not r.apply(upsert(6, bob(), "two", seq=2))  # older than the snapshot's Bob
    assert not r.rooms.members["sid-b"].in_voice
    carol = Member("sid-c", "u3", "Carol", "R", True)
    assert not r.apply(upsert(8, carol, "two", seq=3))  # gone before the snapshot was taken
    assert "sid-c" not in r.rooms.members
    assert r.apply(upsert(11, bob(), "two", seq=2))
    assert r.rooms.members["sid-b"].in_voice and r.version == 11


def test_members_of_different_servers_arrive_in_any_order():
    """Each server publishes its own people's changes; between servers there is no order."""
    r = Replica()
    r.apply(upsert(7, bob(), "two", seq=2))  # published by server two
    r.apply(upsert(5, alice(), "one", seq=1))  # published by server one, arriving later
    assert r.rooms.check_relay("sid-a", "sid-b") and r.version == 7
    assert [m.username for m in r.in_room("R")] == ["Alice", "Bob"]


def test_malformed_announcements_change_nothing():
    r = Replica()
    good = upsert(1, alice(), "one", seq=1)
    r.apply(good)
    before = (dict(r.server_of), r.version, [vars(m) for m in r.in_room("R")])
    junk = [b"", b"[]", b"{}", b"null", b"[1]", b'["x","sid"]', b"[1,2,3]", b'[2,"a",1,2,3]',
            b'[2,"sid-a","one","R",1,"A","u",1,9]', b"\xff\xfe", b'[2, "sid-a", "one", "R"',
            b'[2,"sid-a","one","R",1,"A","u","not a number"]', b'["2",{}]']
    for announcement in junk:
        assert not r.apply(announcement) and not r.apply_own(announcement), announcement
    assert (dict(r.server_of), r.version, [vars(m) for m in r.in_room("R")]) == before


def test_random_damage_never_raises_and_keeps_the_replica_whole():
    r = Replica()
    good = upsert(1, alice(), "one", seq=1)
    rng = random.Random(7)
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        (r.apply if rng.random() < 0.5 else r.apply_own)(bytes(data))
    # Whatever was applied (damage can still be well-formed), the indexes agree.
    assert set(r.server_of) == set(r.rooms.members) == set(r._seq)
    assert sorted(m.sid for room in r.rooms.rooms().values() for m in room) == sorted(
        r.rooms.members)
