"""Room and seat state, with no sockets at all (the sans-I/O core of the postman)."""

import pytest

from talklab.server.rooms import VOICE_FULL_MESSAGE, RoomError, Rooms, VoiceFull


def test_seats_are_counted_per_room_and_capped():
    rooms = Rooms(voice_cap=2)
    for sid, room in [("a", "R"), ("b", "R"), ("c", "R"), ("x", "S")]:
        rooms.join_room(sid, room, sid.upper())
    assert rooms.join_voice("a", "R")[1] == []
    assert [m.sid for m in rooms.join_voice("b", "R")[1]] == ["a"]
    with pytest.raises(VoiceFull, match=VOICE_FULL_MESSAGE):
        rooms.join_voice("c", "R")
    assert not rooms.members["c"].in_voice
    rooms.join_voice("x", "S")  # another room has its own seats
    rooms.leave_voice("a")
    assert [m.sid for m in rooms.join_voice("c", "R")[1]] == ["b"]


def test_refusals_change_nothing():
    rooms = Rooms()
    rooms.join_room("a", "R", "A")
    snapshot = repr(rooms.members)
    for call in (lambda: rooms.join_room("a", "R", "A"), lambda: rooms.join_voice("a", "S"),
                 lambda: rooms.join_voice("zz", "R"), lambda: rooms.leave_voice("a"),
                 lambda: rooms.check_relay("a", "b")):
        with pytest.raises(RoomError):
            call()
    assert repr(rooms.members) == snapshot


def test_relay_rule():
    rooms = Rooms()
    for sid, room in [("a", "R"), ("b", "R"), ("c", "R"), ("x", "S")]:
        rooms.join_room(sid, room, sid)
    for sid in ("a", "b", "x"):
        rooms.join_voice(sid, rooms.members[sid].room)
    assert [m.sid for m in rooms.check_relay("a", "b")] == ["a", "b"]
    for sender, target, why in [("a", "x", "no member"), ("a", "c", "not in voice"),
                                ("c", "a", "not in voice"), ("a", "a", "yourself")]:
        with pytest.raises(RoomError, match=why):
            rooms.check_relay(sender, target)
