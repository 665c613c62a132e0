"""A client written for the seed (Node, socket.io-client v4) against talklab-server, unchanged
(on both WebSocket paths)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
from server_fixtures import server_process

NODE_DIR = pathlib.Path(__file__).parent / "node"


@pytest.fixture
def talklab_server(fast_path):
    """The console script, as a user would start it, on a free port."""
    with server_process("--host", "127.0.0.1", fast_path=fast_path, script=True) as running:
        yield running.url


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
