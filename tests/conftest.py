"""Shared fixtures, and the guard that keeps every test on loopback.

The guard is a Python audit hook (PEP 578): every ``connect``, ``sendto`` and ``bind`` made by
any socket in this process is checked, and a test fails if one of them named an address outside
127.0.0.0/8 or ::1. That covers aiortc's and aioice's UDP sockets, Socket.IO and aiohttp alike.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import time

import pytest

_violations: list[str] = []


def _is_loopback(host: object) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if event not in ("socket.connect", "socket.sendto", "socket.bind"):
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        _violations.append(f"{event} {address!r}")


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def only_loopback():
    """Fail any test that made a socket reach (or listen) beyond loopback."""
    _violations.clear()
    yield
    found, _violations[:] = list(_violations), []
    assert not found, f"sockets left loopback: {found[:5]}"


# -- the fixtures test modules share ---------------------------------------------------------------
# (fast_path, server, clients, http, redis: in tests/server_fixtures.py, beside the helpers they
# are made of; the answer keys and other helpers are in tests/helpers.py)
pytest_plugins = ["server_fixtures"]


# -- `make test` on three workers (issue 21) --------------------------------------------------
# `make test` runs `pytest -n 3 --dist loadfile`. Which tests have the machine to themselves,
# and which files run on one worker together, is said once, in tests/parallel.py; these hooks
# only apply it. A serial run (no -n) takes no lock.
import parallel  # noqa: E402  (tests/parallel.py)

_LOCKS = pytest.StashKey[str]()  # the controller's folder of locks
_WORKER_LOCKS = pytest.StashKey[parallel.Locks]()  # a worker's own handles on them


@pytest.hookimpl(tryfirst=True)  # before xdist reads the items
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: parallel.alone_first(item.nodeid))  # (stable: files keep order)
    for item in items:
        if parallel.is_exclusive(item.nodeid):
            item.add_marker(pytest.mark.exclusive)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") == "loadfile":
        return parallel.Scheduler(config, log)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """On the controller: one folder of locks for the run, handed to every worker."""
    if _LOCKS not in node.config.stash:
        node.config.stash[_LOCKS] = parallel.new_lock_folder()
    node.workerinput["talklab_locks"] = node.config.stash[_LOCKS]


def pytest_unconfigure(config):
    if _LOCKS in config.stash:
        parallel.remove_lock_folder(config.stash[_LOCKS])


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outside pytest-timeout's clock
def pytest_runtest_protocol(item, nextitem):
    folder = getattr(item.config, "workerinput", {}).get("talklab_locks")
    if folder is None:
        yield
        return
    locks = item.config.stash.get(_WORKER_LOCKS, None)
    if locks is None:
        locks = item.config.stash[_WORKER_LOCKS] = parallel.Locks(folder)
    item._talklab_next = nextitem  # (read by pytest_runtest_call)

    # an exclusive test shares the room for its setup and teardown, and has it alone for its
    # call (pytest_runtest_call below), or from the call of the one before, kept
    started, waited = time.time(), locks.waited
    locks.enter(exclusive=False)
    try:
        yield
    finally:
        locks.leave(keep=_exclusive(item) and _exclusive(nextitem))
        _timeline(item, started, locks.waited - waited)


def _timeline(item: pytest.Item, started: float, waited: float) -> None:
    """With TALKLAB_TIMELINE=file, one JSON line per test (its worker, when it began and
    ended, its call's span, how long it waited for the room): tests/durations.py reads them."""
    path = os.environ.get("TALKLAB_TIMELINE")
    if path:
        line = {"worker": item.config.workerinput["workerid"], "test": item.nodeid,
                "start": started, "end": time.time(), "waited": round(waited, 3),
                "call": getattr(item, "_talklab_call", None), "exclusive": _exclusive(item)}
        with open(path, "a") as out:
            out.write(json.dumps(line) + "\n")


def _exclusive(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("exclusive") is not None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    locks = item.config.stash.get(_WORKER_LOCKS, None)
    if locks is None or not _exclusive(item):
        began = time.time()
        yield
        item._talklab_call = (began, time.time())
        return
    locks.alone()
    began = time.time()
    try:
        yield
    finally:
        item._talklab_call = (began, time.time())
        if not _exclusive(getattr(item, "_talklab_next", None)):
            locks.share()  # for the teardown
