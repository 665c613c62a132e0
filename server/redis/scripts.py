"""The Redis keys, named once in Python and once in Lua, and the Lua scripts that change them.

Every rule that must be atomic runs as one Lua script: Redis runs a script with nothing
interleaved, so 7 people joining voice at once through two servers still get exactly 6 seats.

Keys (``P`` is the prefix, ``talklab:`` unless the store is given another):

==========================  ============================================================
``P m:<sid>``               hash: sid, user_id, username, room, in_voice, server, seq, ver
``P r:<room>``              sorted set of the room's sids, by join order
``P v:<room>``              sorted set of the sids holding a voice seat, by join order
``P s:<server>``            set of the sids connected to that server
``P alive:<server>``        present while that server lives (it refreshes the expiry)
``P servers``               set of server ids
``P seq``                   counter: join order and generated user ids
``P ver``                   counter: the version of the newest announcement
==========================  ============================================================

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..rooms import Member
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

    @property
    def servers(self) -> str:
        return f"{self.prefix}servers"

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
local k_servers, k_seq, k_ver = P .. 'servers', P .. 'seq', P .. 'ver'

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
OPS.join_room = function(a)
  local sid, room, username, uid, server = a[1], a[2], a[3], a[4], a[5]
  local m = k_member(sid)
  if redis.call('EXISTS', m) == 1 then
    return {'ERR', 'already in room ' .. redis.call('HGET', m, 'room')}
  end
  local seq = redis.call('INCR', k_seq)
  if uid == '' then uid = 'u' .. seq end
  redis.call('HSET', m, 'sid', sid, 'room', room, 'username', username, 'user_id', uid,
             'in_voice', '0', 'server', server, 'seq', seq)
  redis.call('ZADD', k_room(room), seq, sid)
  redis.call('SADD', k_server(server), sid)
  return {'OK', announce(sid), room_list(room)}
end
OPS.join_voice = function(a)
  local sid, room, cap = a[1], a[2], tonumber(a[3])
  local m = k_member(sid)
  if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
  local current = redis.call('HGET', m, 'room')
  if current ~= room then return {'ERR', 'not in room ' .. room .. '; join it first'} end
  if redis.call('HGET', m, 'in_voice') == '1' then
    return {'ERR', 'already in voice in room ' .. room}
  end
  if redis.call('ZCARD', k_voice(room)) >= cap then return {'FULL'} end
  redis.call('ZADD', k_voice(room), redis.call('HGET', m, 'seq'), sid)
  redis.call('HSET', m, 'in_voice', '1')
  return {'OK', announce(sid), room_list(room)}
end
OPS.leave_room = function(a)
  local sid = a[1]
  local before = member_of(sid)
  if not before then return {} end
  local room, server = before[3], before[2]
  redis.call('ZREM', k_room(room), sid)
  redis.call('ZREM', k_voice(room), sid)
  redis.call('SREM', k_server(server), sid)
  redis.call('DEL', k_member(sid))
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
  redis.call('ZREM', k_voice(current), sid)
  redis.call('HSET', m, 'in_voice', '0')
  return {'OK', announce(sid), room_list(current)}
end
"""

# ARGV: prefix, deadline (ms, Redis's clock; 0: none), a JSON list of [change, arguments].
# Answers the JSON list of the changes' answers, or 'LATE' (and changes nothing).
BATCH = Script(LIB + _CHANGES + """
if late(ARGV[2]) then return 'LATE' end
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

# ARGV: prefix. {rooms, members, in voice}, over every server's people.
COUNTS = Script(LIB + """
local rooms, members, voice = 0, 0, 0
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', k_room('*'), 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    rooms = rooms + 1
    members = members + redis.call('ZCARD', key)
    voice = voice + redis.call('ZCARD', k_voice(string.sub(key, string.len(k_room('')) + 1)))
  end
until cursor == '0'
return {rooms, members, voice}
""")

# ARGV: prefix, sid, room, server. The names LIB builds, for the test that checks they are
# the names Keys builds.
KEY_NAMES = Script(LIB + """
return {k_member(ARGV[2]), k_room(ARGV[3]), k_voice(ARGV[3]), k_server(ARGV[4]),
        k_alive(ARGV[4]), k_servers, k_seq, k_ver}
""")

SCRIPTS = (BATCH, SNAPSHOT, CLAIM_DEAD, ROOM, COUNTS)


def key_names(keys: Keys, sid: str, room: str, server: str) -> list[str]:
    """What :data:`KEY_NAMES` answers, built by :class:`Keys`."""
    return [keys.member(sid), keys.room(room), keys.voice(room), keys.server(server),
            keys.alive(server), keys.servers, keys.seq, keys.ver]


def member_from_hash(flat: list) -> Member | None:
    """A member from its hash, as HGETALL answers it (a flat list of fields and values), or
    None if there is none."""
    fields = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
    if not fields:
        return None
    return Member(sid=fields["sid"], user_id=fields["user_id"], username=fields["username"],
                  room=fields["room"], in_voice=fields.get("in_voice") == "1")
