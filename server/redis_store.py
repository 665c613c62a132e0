"""Rooms and seats in Redis: one set of rooms for several signaling servers.

The seed keeps ``userSocketMap`` in one Node process, so it cannot run on two machines. Here the
same facts live in Redis, and every rule that must be atomic runs as one Lua script (Redis runs
a script with nothing interleaved), so 7 people joining voice at once through two servers still
get exactly 6 seats.

Keys (``P`` = ``talklab:``):

==========================  ============================================================
``P m:<sid>``               hash: sid, user_id, username, room, in_voice, server, seq
``P r:<room>``              sorted set of the room's sids, by join order
``P v:<room>``              sorted set of the sids holding a voice seat, by join order
``P s:<server>``            set of the sids connected to that server
``P alive:<server>``        present while that server lives (it refreshes the expiry)
``P servers``               set of server ids
``P seq``                   counter: join order and generated user ids
==========================  ============================================================

A server that dies stops refreshing ``alive``; within a few seconds another server's reaper
claims its sids (atomically: only one reaper wins), frees their seats and tells their rooms.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Awaitable, Callable

import redis.asyncio as redis

from .rooms import Member, RoomError, VoiceFull

P = "talklab:"
ALIVE_MS = 3000  # a server silent this long is dead
BEAT_S = 1.0

_JOIN_ROOM = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 1 then return {'ERR', 'already in room ' .. redis.call('HGET', m, 'room')} end
local seq = redis.call('INCR', KEYS[4])
local uid = ARGV[4]
if uid == '' then uid = 'u' .. seq end
redis.call('HSET', m, 'sid', ARGV[1], 'room', ARGV[2], 'username', ARGV[3], 'user_id', uid,
           'in_voice', '0', 'server', ARGV[5], 'seq', seq)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return {'OK', uid}
"""

_JOIN_VOICE = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
local room = redis.call('HGET', m, 'room')
if room ~= ARGV[2] then return {'ERR', 'not in room ' .. ARGV[2] .. '; join it first'} end
if redis.call('HGET', m, 'in_voice') == '1' then return {'ERR', 'already in voice in room ' .. room} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'FULL'} end
local peers = redis.call('ZRANGE', KEYS[2], 0, -1)
redis.call('ZADD', KEYS[2], redis.call('HGET', m, 'seq'), ARGV[1])
redis.call('HSET', m, 'in_voice', '1')
local out = {'OK'}
for _, sid in ipairs(peers) do table.insert(out, sid) end
return out
"""

_LEAVE_ROOM = """
local m = KEYS[1]
local fields = redis.call('HGETALL', m)
if #fields == 0 then return {} end
local h = {}
for i = 1, #fields, 2 do h[fields[i]] = fields[i + 1] end
redis.call('ZREM', ARGV[2] .. 'r:' .. h['room'], ARGV[1])
redis.call('ZREM', ARGV[2] .. 'v:' .. h['room'], ARGV[1])
redis.call('SREM', ARGV[2] .. 's:' .. h['server'], ARGV[1])
redis.call('DEL', m)
return fields
"""

_LEAVE_VOICE = """
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return {'ERR', 'join a room first'} end
local room = redis.call('HGET', m, 'room')
if ARGV[2] ~= '' and room ~= ARGV[2] then return {'ERR', 'not in room ' .. ARGV[2]} end
if redis.call('HGET', m, 'in_voice') ~= '1' then return {'ERR', 'not in voice in room ' .. room} end
redis.call('ZREM', ARGV[3] .. 'v:' .. room, ARGV[1])
redis.call('HSET', m, 'in_voice', '0')
return {'OK'}
"""

_CLAIM_DEAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local sids = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return sids
"""


def _member(fields: dict | list) -> Member | None:
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2]))
    if not fields:
        return None
    return Member(sid=fields["sid"], user_id=fields["user_id"], username=fields["username"],
                  room=fields["room"], in_voice=fields.get("in_voice") == "1")


class RedisStore:
    """Room state shared through Redis by every server that points at the same database."""

    def __init__(self, url: str, *, voice_cap: int,
                 on_reaped: Callable[[list[Member]], Awaitable[None]] | None = None) -> None:
        self.url = url
        self.voice_cap = voice_cap
        self.server_id = uuid.uuid4().hex[:12]
        self.on_reaped = on_reaped
        self.redis: redis.Redis | None = None
        self._beat: asyncio.Task | None = None

    async def start(self) -> None:
        # A blocking pool: a thousand people hanging up at once wait their turn for one of
        # 64 connections, instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(self.url, max_connections=64, timeout=20,
                                                     decode_responses=True)
        self.redis = redis.Redis(connection_pool=pool)
        self._join_room = self.redis.register_script(_JOIN_ROOM)
        self._join_voice = self.redis.register_script(_JOIN_VOICE)
        self._leave_room = self.redis.register_script(_LEAVE_ROOM)
        self._leave_voice = self.redis.register_script(_LEAVE_VOICE)
        self._claim = self.redis.register_script(_CLAIM_DEAD)
        await self._alive()
        await self.redis.sadd(P + "servers", self.server_id)
        self._beat = asyncio.ensure_future(self._heartbeat())

    async def close(self) -> None:
        """A clean shutdown: this server's people leave (as their sockets close), then it goes."""
        if self._beat is not None:
            self._beat.cancel()
        if self.redis is not None:
            await self.redis.delete(P + "alive:" + self.server_id)
            await self.redis.aclose()
            self.redis = None

    # -- liveness -------------------------------------------------------------------------------
    async def _alive(self) -> None:
        await self.redis.set(P + "alive:" + self.server_id, "1", px=ALIVE_MS)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            try:
                await self._alive()
                await self.reap()
            except (redis.RedisError, OSError):
                pass  # Redis away for a moment: try again next beat

    async def reap(self) -> list[Member]:
        """Free the seats of people whose server died; tell their rooms (via ``on_reaped``)."""
        gone: list[Member] = []
        for server in await self.redis.smembers(P + "servers"):
            if server == self.server_id:
                continue
            sids = await self._claim(keys=[P + "alive:" + server, P + "s:" + server,
                                           P + "servers"], args=[server])
            for sid in sids:
                member = await self.leave_room(sid)
                if member is not None:
                    gone.append(member)
        if gone and self.on_reaped is not None:
            await self.on_reaped(gone)
        return gone

    # -- the store's questions ------------------------------------------------------------------
    async def member(self, sid: str) -> Member | None:
        return _member(await self.redis.hgetall(P + "m:" + sid))

    async def join_room(self, sid: str, room: str, username: str,
                        user_id: str | None) -> Member:
        result = await self._join_room(
            keys=[P + "m:" + sid, P + "r:" + room, P + "s:" + self.server_id, P + "seq"],
            args=[sid, room, username, user_id or "", self.server_id])
        if result[0] != "OK":
            raise RoomError(result[1])
        return Member(sid, result[1], username, room)

    async def join_voice(self, sid: str, room: str) -> tuple[Member, list[Member]]:
        result = await self._join_voice(keys=[P + "m:" + sid, P + "v:" + room],
                                        args=[sid, room, self.voice_cap])
        if result[0] == "FULL":
            raise VoiceFull()
        if result[0] != "OK":
            raise RoomError(result[1])
        members = await self._members([sid, *result[1:]])
        return members[0], members[1:]

    async def leave_voice(self, sid: str, room: str | None = None) -> Member:
        result = await self._leave_voice(keys=[P + "m:" + sid], args=[sid, room or "", P])
        if result[0] != "OK":
            raise RoomError(result[1])
        return await self.member(sid)

    async def leave_room(self, sid: str) -> Member | None:
        return _member(await self._leave_room(keys=[P + "m:" + sid], args=[sid, P]))

    async def _members(self, sids: list[str]) -> list[Member]:
        pipe = self.redis.pipeline(transaction=False)
        for sid in sids:
            pipe.hgetall(P + "m:" + sid)
        return [m for m in map(_member, await pipe.execute()) if m is not None]

    async def in_room(self, room: str) -> list[Member]:
        return await self._members(await self.redis.zrange(P + "r:" + room, 0, -1))

    async def check_relay(self, sid: str, to: str) -> tuple[Member, Member]:
        """The same rule as :meth:`Rooms.check_relay`, on one round trip to Redis."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(P + "m:" + sid)
        pipe.hgetall(P + "m:" + to)
        sender, target = map(_member, await pipe.execute())
        if sender is None:
            raise RoomError("join a room first")
        if not sender.in_voice:
            raise RoomError("you are not in voice")
        if to == sid:
            raise RoomError("cannot signal yourself")
        if target is None or target.room != sender.room:
            raise RoomError(f"no member {to} in room {sender.room}")
        if not target.in_voice:
            raise RoomError(f"{to} is not in voice")
        return sender, target

    async def counts(self) -> dict:
        members = [m for m in await self._members(
            [k[len(P) + 2:] async for k in self.redis.scan_iter(P + "m:*")]) if m]
        return {"rooms": len({m.room for m in members}), "members": len(members),
                "inVoice": sum(m.in_voice for m in members)}
