"""A client written for the seed (Node, socket.io-client v4) against talklab-server, unchanged
(on both WebSocket paths)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from server_fixtures import FAST_PATHS, cli_flags

NODE_DIR = pathlib.Path(__file__).parent / "node"


@pytest.fixture(**FAST_PATHS)
def talklab_server(request):
    """The console script, as a user would start it, on a free port."""
    script = pathlib.Path(sys.executable).with_name("talklab-server")
    assert script.exists(), "talklab-server is not installed (run `make test`)"
    proc = subprocess.Popen([str(script), "--host", "127.0.0.1", "--port", "0",
                             *cli_flags(request.param)],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, f"server said {line!r}"
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_seeds_client_runs_dave_joins_voice_unchanged(talklab_server):
    node = shutil.which("node")
    assert node, "node is not installed (run `make test`, which installs it)"
    assert (NODE_DIR / "node_modules" / "socket.io-client").is_dir(), \
        "socket.io-client is not installed (run `make test`, which runs npm ci in tests/node)"
    run = subprocess.run([node, "seed_client.mjs", talklab_server], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=60)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["ok"], report
    ids = report["ids"]

    # Three offers reach Dave, one from each of the three, with the right `from`.
    assert sorted(report["offersToDave"]) == sorted(ids[n] for n in ("Alice", "Bob", "Charlie"))
    texts = dict(zip(report["offersToDave"], report["offerTexts"], strict=True))
    assert texts[ids["Bob"]] == "v=0\r\ns=offer from Bob\r\n"
    # His answers and candidates reach each of them.
    assert report["answersFromDave"] == {"Alice": 1, "Bob": 1, "Charlie": 1}
    assert sorted(report["candidatesToDave"]) == sorted(ids[n] for n in ("Alice", "Bob", "Charlie"))
    # The 7th is refused with the seed's words; a disconnect frees the seat for her.
    assert report["graceVoiceErrors"] == ["Voice channel is full!"]
    assert all(ids["Eve"] in left for left in report["leftVoiceSeenBy"].values())
    assert sorted(report["offersToGrace"]) == sorted(
        ids[n] for n in ("Alice", "Bob", "Charlie", "Dave", "Frank"))
    assert run.returncode == 0, run.stderr
