"""Interrupt Kernel, in a real kernel, in the middle of the course's two longest cells: 06's
NAT x NAT matrix and 08's room of ten. The learner sees one sentence (what stopped, how the lab
is, what to run next), never a traceback through asyncio and talklab, and the kernel goes on:
the next cells run, and the lab closes (``talklab.notebook.on_interrupt``)."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import time

import psutil
import pytest
from jupyter_client.manager import start_new_async_kernel

ROOT = pathlib.Path(__file__).parent.parent


def cell(notebook: str, contains: str) -> str:
    """The source of the first code cell of ``notebook`` that contains ``contains``, without
    its check.ready line (the course's guard on the cells run before it, which this test does
    not run: it interrupts the cell itself)."""
    raw = json.loads((ROOT / "notebooks" / notebook).read_text())
    source = next("".join(c["source"]) for c in raw["cells"]
                  if c["cell_type"] == "code" and contains in "".join(c["source"]))
    return "\n".join(line for line in source.splitlines()
                     if not line.startswith("check.ready("))


async def run(client, code: str, timeout: float = 60) -> list[dict]:
    """Execute ``code`` and return its outputs (iopub messages), once the kernel is idle."""
    msg_id = client.execute(code)
    return await outputs_of(client, msg_id, timeout)


async def outputs_of(client, msg_id: str, timeout: float) -> list[dict]:
    found = []
    deadline = time.monotonic() + timeout
    while True:
        msg = await client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return found
        if kind in ("stream", "error", "execute_result", "display_data"):
            found.append({"type": kind, **msg["content"]})


async def until(condition, timeout: float, what: str) -> None:
    """Poll ``condition()`` (a reading of the kernel process from outside) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)  # (polling another process's sockets: no event to wait on)


def udp_sockets(pid: int) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections(kind="udp"))


@pytest.fixture
async def kernel():
    manager, client = await start_new_async_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        yield manager, client
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


def one_sentence(outputs: list[dict]) -> str:
    errors = [o for o in outputs if o["type"] == "error"]
    assert len(errors) == 1, outputs
    (line,) = errors[0]["traceback"]  # one line: no frames of asyncio or talklab
    assert "asyncio" not in line and "talklab/" not in line and "Traceback" not in line
    assert not [o for o in outputs if o["type"] == "stream" and o["name"] == "stderr"], outputs
    return line


@pytest.mark.timeout(120)
async def test_interrupting_06s_matrix_says_one_sentence_and_the_kernel_goes_on(kernel):
    manager, client = kernel
    pid = manager.provisioner.process.pid
    await run(client, "import talklab\nfrom talklab import views")
    quiet = udp_sockets(pid)
    msg_id = client.execute(cell("06-turn-and-nats.ipynb", "nat_matrix()"))
    await until(lambda: udp_sockets(pid) > quiet + 8, 30, "the matrix's people gathering")
    await manager.interrupt_kernel()
    said = one_sentence(await outputs_of(client, msg_id, 30))
    assert "Interrupted: this cell stopped where it was" in said
    # the matrix's own labs closed as the cell unwound: no lab to remake, only what to run
    assert "Run it again before the next" in said and "Lab(" not in said
    assert (await run(client, "print(1 + 1)"))[0]["text"] == "2\n"
    await until(lambda: udp_sockets(pid) <= quiet, 15, "the matrix's labs closing")


@pytest.mark.timeout(120)
async def test_interrupting_07s_room_of_ten_leaves_a_lab_that_works(kernel):
    manager, client = kernel
    pid = manager.provisioner.process.pid
    await run(client, "import talklab\nfrom talklab.lab.load import measure\n"
                      "from talklab.views import LinkStatsView\nlab = await talklab.Lab()")
    msg_id = client.execute(cell("08-the-full-mesh.ipynb", "voice_cap=10"))
    await until(lambda: udp_sockets(pid) > 20, 40, "the room of ten filling")
    await manager.interrupt_kernel()
    said = one_sentence(await outputs_of(client, msg_id, 30))
    assert "The lab is still running, with" in said and "in voice" in said
    assert "run the cell with `ten_lab = await talklab.Lab(voice_cap=10)` again" in said  # its own
    shown = await run(client, "print(len(ten_lab.people), ten_lab.running)")
    people, running = shown[0]["text"].split()
    assert int(people) >= 1 and running == "True"
    await run(client, "await ten_lab.close()")
    await until(lambda: udp_sockets(pid) == 0, 15, "the room of ten hanging up")
    assert (await run(client, "print(talklab.Lab.current)"))[0]["text"] == "None\n"


@pytest.mark.timeout(120)
async def test_interrupting_09s_check_leaves_its_redis_and_says_one_sentence(kernel):
    """walk2 09-6: Interrupt signals the kernel's whole process group, and redis-server takes
    SIGINT as "shut down": 10's Redis died under the learner (its closing cell then printed
    'cannot connect' on stderr), and the check's interrupt was a bare CancelledError."""
    manager, client = kernel
    await run(client, "import asyncio, shutil\nfrom talklab import check\n"
                      "from talklab.lab.redis_server import RedisServer\n"
                      "redis = await RedisServer()\none = await redis.signaling_server(db=1)\n"
                      "print(redis.pid)")
    shown = await run(client, "print(redis.pid)")
    redis_pid = int(shown[0]["text"])
    assert psutil.Process(redis_pid).name().startswith("redis")
    msg_id = client.execute("async def slow(request, servers):\n"
                            "    print('asked', flush=True)\n"
                            "    await asyncio.sleep(30)\n    return 0\n"
                            "await check.server_for(slow)")
    while True:  # until the check has called the learner's function
        msg = await client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    await manager.interrupt_kernel()
    said = one_sentence(await outputs_of(client, msg_id, 30))
    assert "Interrupted: this cell stopped where it was" in said
    assert psutil.Process(redis_pid).is_running()  # the notebook's Redis carries on
    closed = await run(client, "await redis.close()\nprint('closed')")
    assert [o for o in closed if o["type"] == "stream"] == [
        {"type": "stream", "name": "stdout", "text": "closed\n"}], closed  # nothing on stderr


@pytest.mark.timeout(60)
async def test_a_kernel_that_dies_takes_its_redis_with_it():
    manager, client = await start_new_async_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        shown = await run(client, "from talklab.lab.redis_server import RedisServer\n"
                                  "redis = await RedisServer()\nprint(redis.pid)")
        redis_pid = int(shown[0]["text"])
        assert os.getpgid(redis_pid) != os.getpgid(manager.provisioner.process.pid)
        os.kill(manager.provisioner.process.pid, signal.SIGKILL)  # no close, no goodbye
        await until(lambda: not psutil.pid_exists(redis_pid)
                    or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE,
                    10, "the orphaned redis-server ending")
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


@pytest.mark.timeout(120)
async def test_interrupting_a_rehearsal_speaks_of_the_classroom(kernel):
    """walk3 11-7: it spoke of "the lab ... with 1 person" (a student's own lab) and named the
    interrupted cell's last line."""
    manager, client = kernel
    await run(client, "import asyncio, talklab\n"
                      "classroom = await talklab.Classroom(turn=False)\n"
                      "ana = await classroom.rehearse('Ana', tone_hz=440)")
    msg_id = client.execute("print('waiting', flush=True)\nawait asyncio.sleep(30)")
    while True:  # until the cell runs
        msg = await client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    await manager.interrupt_kernel()
    said = one_sentence(await outputs_of(client, msg_id, 30))
    assert "The classroom is still running (Ana)" in said and "The lab is" not in said
    assert "`classroom = await talklab.Classroom(turn=False)`" in said
    await run(client, "await classroom.close()")
