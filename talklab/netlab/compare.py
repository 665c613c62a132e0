"""The simulator against the real thing: one ICE negotiation per pair of NATs, both ways.

For every NAT kind netfilter can produce (:data:`~talklab.netlab.nftables.KINDS`), the network
lab builds two homes behind a real Linux NAT of that kind (``<kind>-a`` and ``<kind>-b``), a
STUN server on two public addresses and a TURN server. For every ordered pair of kinds (a, b),
an agent behind home a (controlling) and one behind home b run one ICE negotiation
(:func:`~.pairing.negotiate`, candidates passing through this process), and the same pair runs
through talklab's NAT simulator (:mod:`.simulated`), with the same code and settings. Each cell
is the controlling side's verdict: connected or not, and the route of the selected pair (host,
srflx, prflx, relay). Then again with the TURN server offered to everyone.

``detect_nat`` (RFC 5780) runs from behind every real NAT, and behind a simulated one of the
matching type, and is held to the type the kind should have.

Run it: ``sudo python -m talklab.netlab.compare`` prints the matrices side by side and exits 1
if real and simulated disagree anywhere they are comparable.

Tested in tests/test_netlab.py (three NAT kinds, every ordered pair, STUN only and with TURN: real
and simulated routes agree; an unknown kind is refused before anything is built; root only).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from talklab.netlab import simulated
from talklab.netlab.agents import Agent, RemotePeer
from talklab.netlab.namespaces import NetLab
from talklab.netlab.nftables import KINDS
from talklab.netlab.pairing import Outcome, negotiate
from talklab.netlab.topology import Design, Network
from talklab.turn.credentials import rest_credentials

SHORT = {"full-cone": "fc", "restricted": "rc", "port-restricted": "prc", "symmetric": "sym",
         "symmetric-fully-random": "symf", "masquerade-open": "open"}
DEFAULT_KINDS = ("full-cone", "restricted", "port-restricted", "symmetric",
                 "symmetric-fully-random")
PUBLIC = ["198.51.100.0/24", "203.0.113.0/24"]  # whom the lab's TURN server may relay to

Pair = tuple[str, str]


def network(kinds: Iterable[str]) -> Network:
    """STUN (two addresses) and TURN in the data centre; two homes per NAT kind."""
    design = Design()
    design.server("stun", addresses=2)
    design.server("turn")
    for kind in kinds:
        design.home(f"{SHORT[kind]}-a", nat=kind)
        design.home(f"{SHORT[kind]}-b", nat=kind)
    return design.network()


def _verdict(outcome: Outcome | None) -> str:
    if outcome is None:
        return "·"
    return outcome.route or "?" if outcome.connected else "fail"


@dataclass
class Cell:
    """One pair: the real outcomes (controlling, controlled) and the simulated ones."""

    a: str
    b: str
    real: tuple[Outcome, Outcome]
    simulated: tuple[Outcome, Outcome] | None  # None: a kind the simulator has no type for

    @property
    def comparable(self) -> bool:
        return self.simulated is not None

    @property
    def agree(self) -> bool:
        return self.simulated is None or _verdict(self.real[0]) == _verdict(self.simulated[0])


@dataclass
class Report:
    kinds: tuple[str, ...]
    direct: dict[Pair, Cell]
    relayed: dict[Pair, Cell] | None
    detected: dict[str, dict[str, Any]]  # host -> {kind, expected, real, simulated}
    seconds: dict[str, float] = field(default_factory=dict)

    def differences(self) -> list[str]:
        out = []
        for title, cells in (("STUN only", self.direct), ("with TURN", self.relayed or {})):
            for cell in cells.values():
                if not cell.agree:
                    assert cell.simulated is not None
                    out.append(f"{title}, {cell.a} x {cell.b}: real {_verdict(cell.real[0])} "
                               f"({cell.real[0].error or cell.real[0].local}), simulated "
                               f"{_verdict(cell.simulated[0])}")
        for host, row in self.detected.items():
            if row["expected"] is not None and row["real"] != row["expected"]:
                out.append(f"detect_nat on {host} ({row['kind']}): {row['real']}, expected "
                           f"{row['expected']}")
            if row["simulated"] is not None and row["simulated"] != row["expected"]:
                out.append(f"simulated detect_nat for {row['kind']}: {row['simulated']}")
        return out

    def render(self) -> str:
        lines = []
        for title, cells in (("STUN only", self.direct), ("with TURN", self.relayed)):
            if cells is not None:
                lines += [*_side_by_side(title, self.kinds, cells), ""]
        lines += _detections(self.detected)
        lines += ["", "legend: " + ", ".join(f"{s} = {k}" for k, s in SHORT.items()
                                               if k in self.kinds),
                  "a cell is the controlling side's route (row = controlling); "
                  "fail = ICE failed; · = the simulator has no such NAT; * = differs"]
        if self.seconds:
            lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        return "\n".join(lines)


def _side_by_side(title: str, kinds: tuple[str, ...], cells: dict[Pair, Cell]) -> list[str]:
    width = 7
    head = "a \\ b".ljust(6) + "".join(SHORT[k].rjust(width) for k in kinds)
    lines = [f"{title}: real (Linux netfilter)".ljust(len(head)) + "   |   " +
             "simulated (talklab.nat)", head + "   |   " + head]
    for a in kinds:
        real, sim = SHORT[a].ljust(6), SHORT[a].ljust(6)
        for b in kinds:
            cell = cells[(a, b)]
            mark = "" if cell.agree else "*"
            real += (_verdict(cell.real[0]) + mark).rjust(width)
            sim += _verdict(cell.simulated[0] if cell.simulated else None).rjust(width)
        lines.append(real + "   |   " + sim)
    return lines


def _detections(detected: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["detect_nat (RFC 5780) behind each NAT:",
             f"{'host':8}{'NAT kind':25}{'expected':18}{'real':18}simulated"]
    for host, row in detected.items():
        lines.append(f"{host:8}{row['kind']:25}{row['expected'] or '(none)':18}"
                     f"{row['real']:18}{row['simulated'] or '·'}")
    return lines


@dataclass
class RealServers:
    stun: tuple[str, int]
    turn: tuple[str, int]
    secret: str

    def options(self, name: str, turn: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"stun": list(self.stun)}
        if turn:
            username, password = rest_credentials(self.secret, name, ttl=600)
            options.update(turn=list(self.turn), turn_username=username,
                           turn_password=password)
        return options


async def real_matrix(agents: dict[str, Agent], pairs: list[Pair], servers: RealServers,
                      turn: bool, timeout: float) -> dict[Pair, tuple[Outcome, Outcome]]:
    async def one(a: str, b: str) -> tuple[Outcome, Outcome]:
        first = await RemotePeer.new(agents[f"{SHORT[a]}-a"], True,
                                     **servers.options(f"{a}-a", turn))
        second = await RemotePeer.new(agents[f"{SHORT[b]}-b"], False,
                                      **servers.options(f"{b}-b", turn))
        try:
            return await negotiate(first, second, timeout)
        finally:
            await asyncio.gather(first.close(), second.close(), return_exceptions=True)

    outcomes = await asyncio.gather(*(one(a, b) for a, b in pairs))
    return dict(zip(pairs, outcomes, strict=True))


async def _pass(agents: dict[str, Agent], kinds: tuple[str, ...], servers: RealServers,
                turn: bool, check_retries: int, timeout: float) -> dict[Pair, Cell]:
    pairs = [(a, b) for a in kinds for b in kinds]
    comparable = [(a, b) for a, b in pairs if KINDS[a].simulated and KINDS[b].simulated]
    sim_pairs = [(str(KINDS[a].simulated), str(KINDS[b].simulated)) for a, b in comparable]
    real, sim = await asyncio.gather(
        real_matrix(agents, pairs, servers, turn, timeout),
        simulated.matrix(sim_pairs, turn=turn, check_retries=check_retries, timeout=timeout))
    sim_of = {pair: sim[s] for pair, s in zip(comparable, sim_pairs, strict=True)}
    return {(a, b): Cell(a, b, real[(a, b)], sim_of.get((a, b))) for a, b in pairs}


async def _detect(agents: dict[str, Agent], kinds: tuple[str, ...],
                  stun: tuple[str, int]) -> dict[str, dict[str, Any]]:
    from talklab.nat import detect_nat
    from talklab.stun import StunServer

    hosts = [(f"{SHORT[k]}-{side}", k) for k in kinds for side in "ab"]
    reports = await asyncio.gather(*(agents[h].call("detect_nat", {"server": list(stun)})
                                     for h, _ in hosts))
    simulated_types: dict[str, str] = {}
    async with StunServer() as server:
        for kind in kinds:
            sim = KINDS[kind].simulated
            if sim is not None:
                simulated_types[kind] = (await detect_nat(server.address, sim)).type
    return {h: {"kind": k, "expected": KINDS[k].classic, "real": r["type"],
                "simulated": simulated_types.get(k), "steps": r["steps"]}
            for (h, k), r in zip(hosts, reports, strict=True)}


async def run(kinds: Iterable[str] = DEFAULT_KINDS, *, turn: bool = True,
              check_retries: int = 3, timeout: float = 20.0) -> Report:
    """Build the network, run every comparison, tear it down; the :class:`Report`."""
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown NAT kinds {unknown}; one of {sorted(KINDS)}")
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    async with NetLab(network(kinds), check_retries=check_retries) as net:
        seconds["build"] = time.monotonic() - t0
        t = time.monotonic()
        started = await net.start_agents(*(h.name for h in net.network.hosts))
        agents = {a.name: a for a in started}
        seconds["agents"] = time.monotonic() - t
        stun_host, turn_host = net.network.host("stun"), net.network.host("turn")
        await agents["stun"].call("stun.start", {
            "host": stun_host.addresses[0], "port": 3478,
            "alternate_host": stun_host.addresses[1], "alternate_port": 3479})
        secret = secrets.token_hex(16)
        await agents["turn"].call("turn.start", {"host": turn_host.address, "port": 3478,
                                                 "secret": secret, "networks": PUBLIC})
        servers = RealServers((stun_host.address, 3478), (turn_host.address, 3478), secret)

        t = time.monotonic()
        detected = await _detect(agents, kinds, servers.stun)
        seconds["detect_nat"] = time.monotonic() - t
        t = time.monotonic()
        direct = await _pass(agents, kinds, servers, False, check_retries, timeout)
        seconds["STUN only"] = time.monotonic() - t
        relayed = None
        if turn:
            t = time.monotonic()
            relayed = await _pass(agents, kinds, servers, True, check_retries, timeout)
            seconds["with TURN"] = time.monotonic() - t
    seconds["total"] = time.monotonic() - t0
    return Report(kinds, direct, relayed, detected, seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m talklab.netlab.compare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS),
                        choices=sorted(KINDS), help="the NAT kinds to compare")
    parser.add_argument("--no-turn", action="store_true", help="skip the TURN pass")
    parser.add_argument("--retries", type=int, default=3,
                        help="check retransmissions (3: a pair fails after ~7.5 s)")
    args = parser.parse_args(argv)
    from talklab.netlab.shell import not_permitted
    reason = not_permitted()
    if reason:
        print(f"cannot build the network lab: {reason}", file=sys.stderr)
        raise SystemExit(2)
    report = asyncio.run(run(args.kinds, turn=not args.no_turn, check_retries=args.retries))
    print(report.render())
    differences = report.differences()
    if differences:
        print("\nreal and simulated differ:\n  " + "\n  ".join(differences))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
