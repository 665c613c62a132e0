"""A live network lab: the namespaces of a :class:`~talklab.netlab.topology.Network`, built,
with agents on its hosts, and torn down whatever happens.

::

    async with NetLab(design.network()) as net:
        ana = await net.agent("ana")            # a Python process on host ana
        await ana.call("ping")

Teardown kills the agents this lab started (by their process IDs), then deletes every
namespace of the run (deleting a namespace deletes the veth ends inside it, and so their
peers). It runs on leaving the ``with`` block, on an exception in the middle of the build, and
from a finalizer when a lab is dropped or the interpreter exits without either. A run killed
outright (SIGKILL) leaves its namespaces behind, named with its prefix; the next run deletes
them once it sees the process that made them is gone (:func:`~.shell.clean_leftovers`).

Tested in tests/test_netlab.py (a failing test body still tears every namespace down, and no run
leaves one behind) and tests/test_classroom_netlab.py (root only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import weakref
from typing import Any

from talklab.netlab import plan, shell
from talklab.netlab.agents import Agent
from talklab.netlab.plan import Names, Step
from talklab.netlab.topology import Network


def _teardown(prefix: str, namespaces: list[str], processes: dict[int, Any],
              state: dict[str, bool]) -> list[str]:
    """Kill our agents, delete our namespaces; the namespaces that could not be deleted."""
    for pid, process in list(processes.items()):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        processes.pop(pid, None)
    if not state["claimed"]:
        return []  # nothing was ever made
    try:
        existing = set(shell.namespaces())
    except shell.CommandFailed:
        existing = set(namespaces)
    ours = [ns for ns in namespaces if ns in existing]
    ours += sorted(ns for ns in existing if ns.startswith(prefix + "-") and ns not in ours)
    failed = []
    for ns in ours:
        try:
            shell.run(Step(("ip", "netns", "delete", ns), "teardown"))
        except shell.CommandFailed as exc:
            if "No such file" not in exc.output:
                failed.append(f"{ns}: {exc.output}")
    shell.release(prefix)
    return failed


class NetLab:
    """The namespaces of ``network``, named with a fresh prefix (or ``prefix``)."""

    def __init__(self, network: Network, prefix: str | None = None, *,
                 check_retries: int = 3) -> None:
        self.network = network
        self.names = Names(prefix or plan.new_prefix(_existing()))
        self.check_retries = check_retries
        self.built = False
        self.agents: dict[str, Agent] = {}
        self._processes: dict[int, Any] = {}  # pid -> process, shared with the finalizer
        self._namespaces = [self.names.namespace(n) for n in network.nodes()]
        self._state = {"claimed": False}  # shared with the finalizer
        self._finalizer = weakref.finalize(self, _teardown, self.names.prefix,
                                           list(self._namespaces), self._processes,
                                           self._state)

    @property
    def prefix(self) -> str:
        return self.names.prefix

    def namespace(self, node: str) -> str:
        if node not in self.network.nodes():
            raise KeyError(f"no node {node!r}; nodes: {self.network.nodes()}")
        return self.names.namespace(node)

    # -- building and tearing down (synchronous: ip and nft take milliseconds) -------------------
    def build(self) -> NetLab:
        """Run every command of :func:`~.plan.build`; on any failure, tear down and raise."""
        if self.built:
            return self
        if not self._finalizer.alive:
            raise RuntimeError("this network lab was torn down; make a new NetLab")
        shell.clean_leftovers()
        shell.claim(self.prefix)
        self._state["claimed"] = True
        try:
            for step in plan.build(self.network, self.names):
                shell.run(step)
        except BaseException:
            self.teardown()
            raise
        self.built = True
        return self

    def teardown(self) -> None:
        """Kill the agents, delete every namespace of this run; raise if one stays."""
        self.built = False
        self.agents.clear()
        failed = self._finalizer()  # (runs once; later calls return None)
        if failed:
            raise shell.CommandFailed(Step(("ip", "netns", "delete"), "teardown"), 1,
                                      "; ".join(failed))

    def exec(self, node: str, *argv: str) -> str:
        """Run a command inside ``node``'s namespace (``nft list ruleset``, ``ip addr``...)."""
        return shell.run(Step(("ip", "netns", "exec", self.namespace(node), *argv),
                              f"on {node}"))

    def __enter__(self) -> NetLab:
        return self.build()

    def __exit__(self, *exc: Any) -> None:
        self.teardown()

    # -- agents (asyncio) -------------------------------------------------------------------------
    async def agent(self, host: str, name: str | None = None) -> Agent:
        """Start an agent on ``host`` (a host of the network: a machine, not a router)."""
        self.network.host(host)  # (KeyError for a router or an unknown name)
        if not self.built:
            raise RuntimeError("build the network first (with NetLab(...) or .build())")
        name = name or host
        if name in self.agents:
            raise ValueError(f"an agent named {name!r} runs already")
        started = await Agent.start(self.namespace(host), name, retries=self.check_retries)
        self._processes[started.pid] = started.process
        self.agents[name] = started
        return started

    async def start_agents(self, *hosts: str) -> list[Agent]:
        """One agent on each of ``hosts``, started at once."""
        results = await asyncio.gather(*(self.agent(h) for h in hosts), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        return list(results)  # type: ignore[arg-type]

    async def close_agents(self) -> None:
        agents, self.agents = list(self.agents.values()), {}
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)
        for agent in agents:
            self._processes.pop(agent.pid, None)

    async def __aenter__(self) -> NetLab:
        await asyncio.to_thread(self.build)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.close_agents()
        finally:
            await asyncio.to_thread(self.teardown)

    def __repr__(self) -> str:
        return (f"<NetLab {self.prefix}: {len(self._namespaces)} namespaces, "
                f"{'built' if self.built else 'not built'}, {len(self.agents)} agents>")


def _existing() -> list[str]:
    with contextlib.suppress(shell.CommandFailed):
        return shell.namespaces()
    return []
