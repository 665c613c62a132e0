"""A notebook kernel survives what learners do to it: Interrupt Kernel while a cell awaits a
connected lab, then the next cell runs and the lab closes cleanly."""

from __future__ import annotations

import queue

import pytest
from jupyter_client.manager import start_new_kernel

SETUP = """
import asyncio, talklab
lab = await talklab.Lab()
alice = await lab.join("Alice", voice=True)
bob = await lab.join("Bob", voice=True)
await lab.wait_connected()
"""


class Kernel:
    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def run(self, code: str, timeout: float = 60, interrupt_when_running: bool = False
            ) -> list[dict]:
        """Execute ``code``; return its iopub messages. With ``interrupt_when_running``, send
        SIGINT as soon as the cell prints that it is waiting (so the signal cannot arrive
        before the cell has started, when the kernel would swallow it)."""
        msg_id = self.client.execute(code)
        messages = []
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"the kernel did not finish {code!r}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if interrupt_when_running and msg["msg_type"] == "stream" \
                    and "waiting" in msg["content"]["text"]:
                self.manager.interrupt_kernel()
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return messages

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def errors(messages: list[dict]) -> list[str]:
    return [m["content"]["ename"] for m in messages if m["msg_type"] == "error"]


def stderr(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")


def output(messages: list[dict]) -> str:
    return "".join(m["content"]["data"].get("text/plain", "") for m in messages
                   if m["msg_type"] == "execute_result")


@pytest.fixture
def kernel():
    k = Kernel()
    yield k
    k.close()


def test_interrupting_a_cell_that_awaits_a_live_lab_leaves_everything_working(kernel):
    assert errors(kernel.run(SETUP)) == []
    interrupted = kernel.run("print('waiting', flush=True)\nawait asyncio.sleep(60)",
                             interrupt_when_running=True)
    # ipykernel 7 cancels an awaiting cell (CancelledError); a blocking one gets
    # KeyboardInterrupt. Either way the cell stops and nothing else does.
    assert errors(interrupted) in (["KeyboardInterrupt"], ["CancelledError"])
    assert kernel.manager.is_alive()
    after = kernel.run("await bob.wait_heard(0.5); (lab.graph().number_of_edges(), "
                       "sorted(bob.hears()))")
    assert errors(after) == [] and output(after) == "(1, ['Alice'])", after
    closed = kernel.run("await lab.close(); lab.running")
    assert errors(closed) == [] and output(closed) == "False" and stderr(closed) == ""
