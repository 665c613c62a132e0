"""The Redis keys, named once in Python and once in Lua, and the Lua scripts that change them.

Every rule that must be atomic runs as one Lua script: Redis runs a script with nothing
interleaved, so 7 people joining voice at once through two servers still get exactly 6 seats.

Keys (``P`` is the prefix, ``talklab:`` unless the store is given another):

==========================  ============================================================
``P m:<sid>``               hash: sid, user_id, username, room, in_voice, server, seq, ver
``P r:<room>``              sorted set of the room's sids, by join order
``P v:<room>``              sorted set of the sids holding a voice seat, by join order
``P u:<room>``              hash: user_id -> sid, the userIds taken in the room
``P s:<server>``            set of the sids connected to that server
``P alive:<server>``        present while that server lives (it refreshes the expiry)
``P servers``               set of server ids
``P seq``                   counter: join order and generated user ids
``P ver``                   counter: the version of the newest announcement
``P n:rooms`` ...           counters ``n:rooms``, ``n:members``, ``n:voice`` (for /health)
``P epoch``                 a random value written when the data set begins (see below)
``P rebuild``               present (a few seconds) while servers re-register their people
==========================  ============================================================

**Redis restarted empty.** Redis without persistence comes back with nothing: no members, no
seats, no epoch. Every batch of changes and every heartbeat carries the epoch its server knows,
and does nothing but answer ``RESTARTED`` when Redis's differs (or is missing), so no change is
ever made to an empty Redis by a server that has not re-registered its people yet. The server
then runs :data:`REREGISTER` with every member connected to it (it knows them); the first server
to do so starts a new epoch and sets ``P rebuild`` for :data:`REBUILD_MS`, during which joins
answer ``WAIT`` (and are retried), so that every living server has re-registered before any
newcomer can take a seat or a userId: the cap still holds, and nobody is forgotten.

and two channels, ``P db<N>:events`` (member changes, announced: see :mod:`..replica`) and
``P db<N>:to:<server>`` (messages for that server's sockets). Pub/Sub ignores the database
("Pub/Sub has no relation to the key space", Redis documentation), so the channels name it:
two deployments on two databases of one Redis never hear each other.

:class:`Keys` builds these names for Python; the scripts receive the prefix as ``ARGV[1]`` and
build the same names with the functions of :data:`LIB` (``tests/test_redis_wire.py`` checks
that both agree, name by name). The scripts find the members of a room as they run, so no
caller could list their keys in advance as ``KEYS``: they are for one Redis (a primary, with
replicas if you like), not Redis Cluster.

A member travels as an array, ``[sid, server, room, in_voice, username, user_id, seq]``, and
an *announcement* is that array after a new version number (``[ver, sid]`` for a deletion).
Each change returns ``{'OK', its announcement (JSON), the room's members afterwards}`` or an
error, so the server can answer and tell the room without asking anything else.

Changes that a server has stopped waiting for must not happen later: Redis stopped (SIGSTOP)
keeps the commands sent meanwhile in its socket buffer and runs them when it resumes, after the
client was told the room service did not answer. So a batch carries a deadline (milliseconds,
on Redis's own clock, ``TIME``) and a late batch changes nothing and answers ``LATE``.

Tested in tests/test_redis_wire.py (Lua builds the key names Python builds; a batch Redis runs too
late changes nothing; one failing change does not fail its batch) and tests/test_redis_survival.py
(every server re-registers its people when Redis comes back empty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..member import Member
from .wire import Script

PREFIX = "talklab:"
PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # (no glob characters: SCAN MATCH reads it)


@dataclass(frozen=True)
class Keys:
    """The names of talklab's keys and channels in Redis, for Python (:data:`LIB` for Lua)."""

    prefix: str = PREFIX
    db: int = 0

    def __post_init__(self) -> None:
        if not PREFIX_RE.fullmatch(self.prefix):
            raise ValueError(f"a key prefix must match {PREFIX_RE.pattern}, not {self.prefix!r}")

    def member(self, sid: str) -> str:
        return f"{self.prefix}m:{sid}"

    def room(self, room: str) -> str:
        return f"{self.prefix}r:{room}"

    def voice(self, room: str) -> str:
        return f"{self.prefix}v:{room}"

    def server(self, server: str) -> str:
        return f"{self.prefix}s:{server}"

    def alive(self, server: str) -> str:
        return f"{self.prefix}alive:{server}"

    def user_ids(self, room: str) -> str:
        return f"{self.prefix}u:{room}"

    @property
    def servers(self) -> str:
        return f"{self.prefix}servers"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def rebuild(self) -> str:
        return f"{self.prefix}rebuild"

    @property
    def counters(self) -> tuple[str, str, str]:
        return (f"{self.prefix}n:rooms", f"{self.prefix}n:members", f"{self.prefix}n:voice")

    @property
    def seq(self) -> str:
        return f"{self.prefix}seq"

    @property
    def ver(self) -> str:
        return f"{self.prefix}ver"

    @property
    def events(self) -> str:
        return f"{self.prefix}db{self.db}:events"

    def to(self, server: str) -> str:
        return f"{self.prefix}db{self.db}:to:{server}"


# The same names in Lua, from the prefix in ARGV[1]; then what every script shares.
LIB = """
local P = ARGV[1]
local function k_member(sid) return P .. 'm:' .. sid end
local function k_room(room) return P .. 'r:' .. room end
local function k_voice(room) return P .. 'v:' .. room end
local function k_server(id) return P .. 's:' .. id end
local function k_alive(id) return P .. 'alive:' .. id end
local function k_uids(room) return P .. 'u:' .. room end
local k_servers, k_seq, k_ver = P .. 'servers', P .. 'seq', P .. 'ver'
local k_epoch, k_rebuild = P .. 'epoch', P .. 'rebuild'
local k_nrooms, k_nmembers, k_nvoice = P .. 'n:rooms', P .. 'n:members', P .. 'n:voice'

local function late(deadline)
  if redis.replicate_commands then redis.replicate_commands() end  -- (Redis 5 and 6: TIME)
  local t = redis.call('TIME')
  return tonumber(deadline) > 0 and tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    > tonumber(deadline)
end
local function member_of(sid)
  local h = redis.call('HMGET', k_member(sid), 'server', 'room', 'in_voice', 'username',
                       'user_id', 'seq')
  if not h[1] then return nil end
  return {sid, h[1], h[2], tonumber(h[3]), h[4], h[5], tonumber(h[6])}
end
local function announce(sid)
  local ver = redis.call('INCR', k_ver)
  local m = member_of(sid)
  if not m then return cjson.encode({ver, sid}) end
  redis.call('HSET', k_member(sid), 'ver', ver)
  table.insert(m, 1, ver)
  return cjson.encode(m)
end
-- a member joins a room (the hash written): the indexes and counters follow
local function indexed(sid, room, uid, server, seq)
  if redis.call('ZCARD', k_room(room)) == 0 then redis.call('INCR', k_nrooms) end
  redis.call('INCR', k_nmembers)
  redis.call('ZADD', k_room(room), seq, sid)
  redis.call('SADD', k_server(server), sid)
  redis.call('HSET', k_uids(room), uid, sid)
end
local function seated(sid, room, seq)
  redis.call('ZADD', k_voice(room), seq, sid)
  redis.call('HSET', k_member(sid), 'in_voice', '1')
  redis.call('INCR', k_nvoice)
end
local function room_list(room)
  local out = {}
  for _, sid in ipairs(redis.call('ZRANGE', k_room(room), 0, -1)) do
    local m = member_of(sid)
    if m then table.insert(out, m) end
  end
  return out
end
"""

# The four changes, each a function of its arguments (a JSON array).
_CHANGES = """
local OPS = {}
local function waiting()
  local ttl = redis.call('PTTL', k_rebuild)
  if ttl > 0 then return {'WAIT', ttl} end
end
OPS.join_room = function(a)
  local sid, room, username, uid, server = a[1], a[2], a[3], a[4], a[5]
  local m = k_member(sid)
  if redis.call('EXISTS', m) == 1 then
    return {'ERR', 'already in room ' .. redis.call('HGET', m, 'room')}
  end
  local wait = waiting()
  if wait then return wait end
  if uid ~= '' and redis.call('HEXISTS', k_uids(room), uid) == 1 then
    return {'ERR', 'TAKEN'}
  end
  local seq = redis.call('INCR', k_seq)
  if uid == '' then
    uid = 'u' .. seq
    while redis.call('HEXISTS', k_uids(room), uid) == 1 do
      uid = 'u' .. redis.call('INCR', k_seq)
    end
  end
  redis.call('HSET', m, 'sid', sid, 'room', room, 'username', username, 'user_id', uid,
             'in_voice', '0', 'server', server, 'seq', seq)
  indexed(sid, room, uid, server, seq)
  return {'OK', announce(sid), room_list(room)}
end
OPS.join_voice = function(a)
  local sid, room, cap = a[1], a[2], tonumber(a[3])
  local m = k_member(sid)
  if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
  local wait = waiting()
  if wait then return wait end
  local current = redis.call('HGET', m, 'room')
  if current ~= room then return {'ERR', 'not in room ' .. room .. '; join it first'} end
  if redis.call('HGET', m, 'in_voice') == '1' then
    return {'ERR', 'already in voice in room ' .. room}
  end
  if redis.call('ZCARD', k_voice(room)) >= cap then return {'FULL'} end
  seated(sid, room, redis.call('HGET', m, 'seq'))
  return {'OK', announce(sid), room_list(room)}
end
OPS.leave_room = function(a)
  local sid = a[1]
  local before = member_of(sid)
  if not before then return {} end
  local room, server = before[3], before[2]
  redis.call('ZREM', k_room(room), sid)
  if redis.call('ZREM', k_voice(room), sid) == 1 then redis.call('DECR', k_nvoice) end
  redis.call('SREM', k_server(server), sid)
  if redis.call('HGET', k_uids(room), before[6]) == sid then
    redis.call('HDEL', k_uids(room), before[6])
  end
  redis.call('DEL', k_member(sid))
  redis.call('DECR', k_nmembers)
  if redis.call('ZCARD', k_room(room)) == 0 then redis.call('DECR', k_nrooms) end
  return {'OK', announce(sid), room_list(room), before}
end
OPS.leave_voice = function(a)
  local sid, room = a[1], a[2]
  local m = k_member(sid)
  if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
  local current = redis.call('HGET', m, 'room')
  if room ~= '' and current ~= room then return {'ERR', 'not in room ' .. room} end
  if redis.call('HGET', m, 'in_voice') ~= '1' then
    return {'ERR', 'not in voice in room ' .. current}
  end
  if redis.call('ZREM', k_voice(current), sid) == 1 then redis.call('DECR', k_nvoice) end
  redis.call('HSET', m, 'in_voice', '0')
  return {'OK', announce(sid), room_list(current)}
end
"""

# ARGV: prefix, deadline (ms, Redis's clock; 0: none), a JSON list of [change, arguments], the
# epoch the server knows. Answers the JSON list of the changes' answers, or 'LATE' or
# 'RESTARTED' (and changes nothing).
BATCH = Script(LIB + _CHANGES + """
if late(ARGV[2]) then return 'LATE' end
if redis.call('GET', k_epoch) ~= ARGV[4] then return 'RESTARTED' end
local out = {}
for i, op in ipairs(cjson.decode(ARGV[3])) do
  local change = OPS[op[1]]
  local ok, answer = false, nil
  if change then ok, answer = pcall(change, op[2]) end  -- one change's error stays its own
  if ok then out[i] = answer else out[i] = {'ERR', 'internal error'} end
end
return cjson.encode(out)
""")

# ARGV: prefix. Every member as its last announcement, after the version Redis stands at: one
# consistent snapshot for a new replica.
SNAPSHOT = Script(LIB + """
local out = {redis.call('GET', k_ver) or '0'}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', k_member('*'), 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local m = member_of(string.sub(key, string.len(k_member('')) + 1))
    if m then
      table.insert(m, 1, tonumber(redis.call('HGET', key, 'ver')) or 0)
      table.insert(out, cjson.encode(m))
    end
  end
until cursor == '0'
return out
""")

# ARGV: prefix, server, deadline. If that server's heartbeat has lapsed, take its sids (only
# one reaper wins) and forget the server; else nothing.
CLAIM_DEAD = Script(LIB + """
if late(ARGV[3]) or redis.call('EXISTS', k_alive(ARGV[2])) == 1 then return {} end
local sids = redis.call('SMEMBERS', k_server(ARGV[2]))
redis.call('DEL', k_server(ARGV[2]))
redis.call('SREM', k_servers, ARGV[2])
return sids
""")

# ARGV: prefix, room. The room's members, in join order (member arrays).
ROOM = Script(LIB + "return room_list(ARGV[2])")

# ARGV: prefix. {rooms, members, in voice}, over every server's people: three counters the
# changes keep (a SCAN of every room took 78 ms with 2,000 members; this is one lookup).
COUNTS = Script(LIB + """
local n = redis.call('MGET', k_nrooms, k_nmembers, k_nvoice)
return {tonumber(n[1]) or 0, tonumber(n[2]) or 0, tonumber(n[3]) or 0}
""")

# ARGV: prefix, an epoch. The epoch of the data set, written now if there was none (at start).
EPOCH = Script(LIB + """
redis.call('SET', k_epoch, ARGV[2], 'NX')
return redis.call('GET', k_epoch)
""")

# ARGV: prefix, server, alive ms, epoch. A heartbeat, or 'RESTARTED' if Redis's epoch is not
# the server's (Redis came back empty: the server re-registers first).
BEAT = Script(LIB + """
if redis.call('GET', k_epoch) ~= ARGV[4] then return 'RESTARTED' end
redis.call('SET', k_alive(ARGV[2]), '1', 'PX', ARGV[3])
redis.call('SADD', k_servers, ARGV[2])
return 'OK'
""")

REBUILD_MS = 2500  # joins wait this long after Redis came back empty (every server re-registers)

# ARGV: prefix, server, alive ms, a new epoch, rebuild ms, the newest version and join order the
# server has seen, voice cap, then a JSON list of its members [sid, room, in_voice, username,
# user_id, seq]. Each member Redis does not have is written again (in join order, each seat
# only while the room's voice channel has room); the first server to find no epoch starts a
# new one and makes joins wait. Answers {epoch, announcements of the members written}.
REREGISTER = Script(LIB + """
local server = ARGV[2]
local epoch = redis.call('GET', k_epoch)
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', k_epoch, epoch)
  redis.call('SET', k_rebuild, '1', 'PX', ARGV[5])
end
if (tonumber(redis.call('GET', k_ver)) or 0) < tonumber(ARGV[6]) then
  redis.call('SET', k_ver, ARGV[6])
end
if (tonumber(redis.call('GET', k_seq)) or 0) < tonumber(ARGV[7]) then
  redis.call('SET', k_seq, ARGV[7])
end
redis.call('SET', k_alive(server), '1', 'PX', ARGV[3])
redis.call('SADD', k_servers, server)
local cap = tonumber(ARGV[8])
local out = {epoch}
for _, row in ipairs(cjson.decode(ARGV[9])) do
  local sid, room, in_voice, username, uid, seq = row[1], row[2], row[3], row[4], row[5], row[6]
  if redis.call('EXISTS', k_member(sid)) == 0 then
    redis.call('HSET', k_member(sid), 'sid', sid, 'room', room, 'username', username,
               'user_id', uid, 'in_voice', '0', 'server', server, 'seq', seq)
    indexed(sid, room, uid, server, seq)
    if in_voice == 1 and redis.call('ZCARD', k_voice(room)) < cap then seated(sid, room, seq) end
    table.insert(out, announce(sid))
  end
end
return out
""")

# ARGV: prefix, sid, room, server. The names LIB builds, for the test that checks they are
# the names Keys builds.
KEY_NAMES = Script(LIB + """
return {k_member(ARGV[2]), k_room(ARGV[3]), k_voice(ARGV[3]), k_server(ARGV[4]),
        k_alive(ARGV[4]), k_servers, k_seq, k_ver, k_uids(ARGV[3]), k_epoch, k_rebuild,
        k_nrooms, k_nmembers, k_nvoice}
""")

SCRIPTS = (BATCH, SNAPSHOT, CLAIM_DEAD, ROOM, COUNTS, EPOCH, BEAT, REREGISTER)


def key_names(keys: Keys, sid: str, room: str, server: str) -> list[str]:
    """What :data:`KEY_NAMES` answers, built by :class:`Keys`."""
    return [keys.member(sid), keys.room(room), keys.voice(room), keys.server(server),
            keys.alive(server), keys.servers, keys.seq, keys.ver, keys.user_ids(room),
            keys.epoch, keys.rebuild, *keys.counters]


def member_from_hash(flat: list) -> Member | None:
    """A member from its hash, as HGETALL answers it (a flat list of fields and values), or
    None if there is none."""
    fields = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
    if not fields:
        return None
    return Member(sid=fields["sid"], user_id=fields["user_id"], username=fields["username"],
                  room=fields["room"], in_voice=fields.get("in_voice") == "1")
