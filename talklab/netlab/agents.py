"""The parent's side of an agent: start it in a namespace, call it, stop it (asyncio adapter).

:class:`Agent` runs ``ip netns exec <namespace> <this Python> -m talklab.netlab.agent`` and
speaks :mod:`.protocol` with it. Every call has a timeout. If the agent exits, or writes a line
that breaks the protocol, every call waiting on it fails at once with :class:`AgentGone`
saying why (and the last lines it wrote to stderr); nothing waits for a reply that cannot come.

:class:`RemotePeer` stands for an ICE agent inside an agent, with the same coroutines as
:class:`~talklab.netlab.pairing.Peer`, so :func:`~talklab.netlab.pairing.negotiate` pairs it
with another the same way, the candidates passing through this process as a signaling server
would carry them.

Tested in tests/test_netlab.py (compare.run starts every agent and calls it through this) and
tests/test_classroom_netlab.py (root only).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

from talklab.netlab.pairing import Description, Outcome
from talklab.netlab.protocol import MAX_LINE, Hello, ProtocolError, Request, parse_reply
from talklab.tasks import within

START_TIMEOUT = 20.0  # s for a fresh agent to say hello (imports aioice on a busy machine)
CALL_TIMEOUT = 10.0


class AgentError(RuntimeError):
    """A call the agent answered with an error (its exception, as text)."""

    def __init__(self, agent: str, message: str, kind: str | None) -> None:
        super().__init__(f"agent {agent}: {message}")
        self.kind = kind


class AgentGone(RuntimeError):
    """The agent exited, was stopped, or broke the protocol."""


def _environment() -> dict[str, str]:
    """This process's environment, with talklab importable from wherever it was imported."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Agent:
    """A running agent on one host of the network lab."""

    def __init__(self, name: str, namespace: str, process: asyncio.subprocess.Process) -> None:
        self.name, self.namespace, self.process = name, namespace, process
        self.hello: Hello | None = None
        self.stderr: deque[str] = deque(maxlen=40)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._greeted: asyncio.Future[Hello] = asyncio.get_running_loop().create_future()
        self._gone: AgentGone | None = None
        self._tasks = [asyncio.ensure_future(self._read()),
                       asyncio.ensure_future(self._read_stderr())]

    @classmethod
    async def start(cls, namespace: str, name: str, *, retries: int = 3,
                    python: str = sys.executable, timeout: float = START_TIMEOUT) -> Agent:
        """Start an agent in ``namespace`` and wait (at most ``timeout``) for its hello."""
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", namespace, python, "-m", "talklab.netlab.agent",
            "--name", name, "--retries", str(retries),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=_environment(), limit=MAX_LINE + 2)
        agent = cls(name, namespace, process)
        try:
            agent.hello = await within(asyncio.shield(agent._greeted), timeout)
        except TimeoutError:
            agent.kill()
            raise AgentGone(f"agent {name} in {namespace} said nothing within {timeout:g} s"
                            f"{agent._tail()}") from None
        except AgentGone:
            agent.kill()
            raise
        return agent

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def addresses(self) -> list[str]:
        return self.hello.addresses if self.hello else []

    def _tail(self) -> str:
        return ("; its stderr ends:\n  " + "\n  ".join(self.stderr)) if self.stderr else ""

    # -- reading ------------------------------------------------------------------------------
    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._fail(f"agent {self.name} wrote a line longer than {MAX_LINE} bytes")
                return
            if not line:
                with contextlib.suppress(TimeoutError):
                    await within(self.process.wait(), 2)
                await asyncio.sleep(0)  # (let the stderr reader take the last lines)
                self._fail(f"agent {self.name} exited (status {self.process.returncode})")
                return
            try:
                message = parse_reply(line)
                if isinstance(message, Hello):
                    if self._greeted.done():
                        raise ProtocolError("a second hello")
                    self._greeted.set_result(message)
                    continue
                future = self._pending.pop(message.id, None)
                if future is None:
                    raise ProtocolError(f"a reply to no call (id {message.id})")
            except ProtocolError as exc:
                self._fail(f"agent {self.name} broke the protocol: {exc}")
                return
            if future.done():
                continue  # (its caller timed out)
            if message.ok:
                future.set_result(message.result)
            else:
                future.set_exception(AgentError(self.name, message.error or "", message.type))

    async def _read_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    def _fail(self, why: str) -> None:
        """The agent can answer nothing more: every waiting call fails now, and it stops."""
        self._gone = AgentGone(why + self._tail())
        for future in [self._greeted, *self._pending.values()]:
            if not future.done():
                future.set_exception(self._gone)
        self._greeted.exception()  # (retrieved: no "never retrieved" warning)
        self._pending.clear()
        self.kill()

    # -- calling ------------------------------------------------------------------------------
    async def call(self, op: str, args: dict[str, Any] | None = None,
                   timeout: float = CALL_TIMEOUT) -> Any:
        """Ask the agent to do ``op`` with ``args``; its result, :class:`AgentError`,
        :class:`AgentGone`, or TimeoutError after ``timeout`` seconds."""
        if self._gone is not None:
            raise self._gone
        id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[id] = future
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(Request(id, op, args or {}).line())
            await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._pending.pop(id, None)
            raise AgentGone(f"agent {self.name} cannot be written to: {exc}") from None
        try:
            return await within(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"agent {self.name}: {op} took more than {timeout:g} s") from None
        finally:
            self._pending.pop(id, None)

    # -- stopping -----------------------------------------------------------------------------
    def kill(self) -> None:
        """Stop the process now (for teardown and finalizers: no waiting)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def close(self, timeout: float = 3.0) -> None:
        """Ask it to exit; kill it if it has not within ``timeout``."""
        if self.process.returncode is None and self._gone is None:
            with contextlib.suppress(AgentGone, AgentError, TimeoutError):
                await self.call("exit", timeout=timeout)
        try:
            await within(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._gone is None:
            self._gone = AgentGone(f"agent {self.name} was closed")

    def __repr__(self) -> str:
        state = "running" if self.process.returncode is None else "stopped"
        return f"<Agent {self.name} in {self.namespace}, pid {self.pid}, {state}>"


class RemotePeer:
    """An ICE agent (:class:`~talklab.netlab.pairing.Peer`) living in an :class:`Agent`."""

    _ids = itertools.count(1)

    def __init__(self, agent: Agent, id: str) -> None:
        self.agent, self.id = agent, id

    @classmethod
    async def new(cls, agent: Agent, controlling: bool, **options: Any) -> RemotePeer:
        """``options``: ``stun``, ``turn``, ``turn_username``, ``turn_password``."""
        peer = cls(agent, f"ice{next(cls._ids)}")
        await agent.call("ice.new", {"id": peer.id, "controlling": controlling, **options})
        return peer

    async def gather(self) -> Description:
        return Description.from_json(await self.agent.call("ice.gather", {"id": self.id},
                                                           timeout=15))

    async def remote(self, description: Description) -> None:
        await self.agent.call("ice.remote", {"id": self.id,
                                             "description": description.to_json()})

    async def connect(self, timeout: float) -> Outcome:
        return Outcome.from_json(await self.agent.call(
            "ice.connect", {"id": self.id, "timeout": timeout}, timeout=timeout + 10))

    async def close(self) -> None:
        await self.agent.call("ice.close", {"id": self.id})
