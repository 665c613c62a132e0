"""The relay rule (server/relay.py): driven directly with every case, then through every store
that asks it (the memory store, a Redis replica, the Redis store's fallback), case by case."""

from __future__ import annotations

import pytest

from talklab.server import relay
from talklab.server.replica import Replica, upsert
from talklab.server.rooms import Member, RoomError, Rooms
from talklab.server.store import MemoryStore

# The people of every case: Alice and Bob in voice in R, Carol in R not in voice, Eve in voice
# in another room S. (sender, to, refusal or None)
CASES = [
    ("nobody", "sid-b", "join a room first"),  # sender unknown
    ("sid-c", "sid-a", "you are not in voice"),  # sender not in voice
    ("sid-a", "sid-a", "cannot signal yourself"),  # to itself
    ("sid-a", "nobody", "no member nobody in room R"),  # target unknown
    ("sid-a", "sid-e", "no member sid-e in room R"),  # target in another room
    ("sid-a", "sid-c", "sid-c is not in voice"),  # target not in voice
    ("sid-a", "sid-b", None),  # ok
]
IDS = ["sender-unknown", "sender-not-in-voice", "to-itself", "target-unknown", "other-room",
       "target-not-in-voice", "ok"]
PEOPLE = [Member("sid-a", "u1", "Alice", "R", True), Member("sid-b", "u2", "Bob", "R", True),
          Member("sid-c", "u3", "Carol", "R", False), Member("sid-e", "u4", "Eve", "S", True)]
BY_SID = {m.sid: m for m in PEOPLE}


def expect(check, sender: str, to: str, why: str | None) -> None:
    if why is None:
        got_sender, got_target = check()
        assert (got_sender.sid, got_target.sid) == (sender, to)
    else:
        with pytest.raises(RoomError) as refused:
            check()
        assert str(refused.value) == why


@pytest.mark.parametrize("sender,to,why", CASES, ids=IDS)
def test_the_rule_itself(sender, to, why):
    assert relay.refusal(BY_SID.get(sender), to, BY_SID.get(to)) == why
    expect(lambda: relay.check(BY_SID.get(sender), to, BY_SID.get(to)), sender, to, why)


def test_unknown_and_elsewhere_read_the_same():
    """A sender learns nothing about rooms it is not in."""
    alice = BY_SID["sid-a"]
    assert relay.refusal(alice, "sid-e", None) == relay.refusal(alice, "sid-e", BY_SID["sid-e"])


def memory_rooms() -> Rooms:
    rooms = Rooms()
    for m in PEOPLE:
        rooms.join_room(m.sid, m.room, m.username, m.user_id)
        if m.in_voice:
            rooms.join_voice(m.sid, m.room)
    return rooms


@pytest.mark.parametrize("sender,to,why", CASES, ids=IDS)
async def test_through_the_memory_store(sender, to, why):
    store = MemoryStore(memory_rooms())
    try:
        result = await store.check_relay(sender, to)
    except RoomError as exc:
        assert str(exc) == why
    else:
        assert why is None and (result[0].sid, result[1].sid) == (sender, to)


@pytest.mark.parametrize("sender,to,why", CASES, ids=IDS)
def test_through_a_replica(sender, to, why):
    replica = Replica()
    for seq, m in enumerate(PEOPLE, 1):
        replica.apply(upsert(seq, m, "one", seq))
    expect(lambda: replica.check_relay(sender, to), sender, to, why)


@pytest.mark.parametrize("sender,to,why", CASES, ids=IDS)
async def test_through_the_redis_store(redis, sender, to, why):
    """Both ways the Redis store answers: from its replica, and (for a store whose replica
    knows nobody, as one started before these people joined elsewhere would be, had it missed
    them) from Redis itself."""
    from talklab.server.redis import RedisStore
    store = RedisStore(redis.url, voice_cap=6)
    await store.start()
    try:
        for m in PEOPLE:
            await store.join_room(m.sid, m.room, m.username, m.user_id)
            if m.in_voice:
                await store.join_voice(m.sid, m.room)
        for replica_knows in (True, False):
            if not replica_knows:
                store.replica.clear()
            try:
                result = await store.check_relay(sender, to)
            except RoomError as exc:
                assert str(exc) == why
            else:
                assert why is None and (result[0].sid, result[1].sid) == (sender, to)
    finally:
        await store.close()
