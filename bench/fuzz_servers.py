"""Fuzz talklab's STUN and TURN servers: N random and mutated datagrams each, then check that
each still answers a well-formed request correctly.

    python bench/fuzz_servers.py [--count 100000]

Mutations start from real messages (Binding with and without CHANGE-REQUEST, Allocate,
ChannelBind, Refresh, Send indications, ChannelData, RFC 5769's signed request) with 0-8
random bytes changed, truncated or extended; a fifth are plain random bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from aioice import stun

from talklab.stun import StunServer, dissect
from talklab.turn import TurnServer


def seeds() -> list[bytes]:
    def msg(method, cls=stun.Class.REQUEST, **attributes):
        m = stun.Message(method, cls)
        m.attributes.update(attributes)
        return bytes(m)
    return [
        msg(stun.Method.BINDING), msg(stun.Method.BINDING, **{"CHANGE-REQUEST": 6}),
        msg(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": 17 << 24, "LIFETIME": 600}),
        msg(stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4000,
                                          "XOR-PEER-ADDRESS": ("127.0.0.1", 9)}),
        msg(stun.Method.REFRESH, **{"LIFETIME": 0}),
        msg(stun.Method.SEND, stun.Class.INDICATION,
            **{"XOR-PEER-ADDRESS": ("127.0.0.1", 9), "DATA": b"x" * 40}),
        b"\x40\x00\x00\x08abcdefgh",
    ]


def mutate(rng: random.Random, base: bytes) -> bytes:
    if rng.random() < 0.2:
        return os.urandom(rng.randrange(0, 120))
    packet = bytearray(base)
    for _ in range(rng.randint(0, 8)):
        packet[rng.randrange(len(packet))] = rng.randrange(256)
    roll = rng.random()
    if roll < 0.15:
        packet = packet[:rng.randrange(len(packet) + 1)]
    elif roll < 0.25:
        packet += os.urandom(rng.randrange(1, 40))
    return bytes(packet)


class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.replies: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.replies.put_nowait(data)


async def fuzz(name: str, address, count: int, rng: random.Random) -> str:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    bases = seeds()
    t0 = time.perf_counter()
    for _ in range(count):
        transport.sendto(mutate(rng, rng.choice(bases)), address)
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - t0
    probe = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    transport.sendto(bytes(probe), address)
    while True:
        d = dissect(await asyncio.wait_for(client.replies.get(), 5))
        if d.transaction_id == probe.transaction_id.hex():
            break
    ok = d["XOR-MAPPED-ADDRESS"] == transport.get_extra_info("sockname")
    transport.close()
    return f"{name}: {count} datagrams in {elapsed:.1f} s, still answers correctly: {ok}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(2026)
    async with StunServer() as stun_server:
        print(await fuzz("talklab-stun", stun_server.address, args.count, rng), flush=True)
    async with TurnServer(allow_loopback_peers=True) as turn_server:
        print(await fuzz("talklab-turn", turn_server.address, args.count, rng), flush=True)
        print(f"  TURN counters: {turn_server.counters}")


if __name__ == "__main__":
    asyncio.run(main())
