"""The thin layer that runs ``ip`` and ``nft``: commands, what exists now, leftovers.

Everything else in :mod:`talklab.netlab` is plain data and plain functions; this module is
where they touch the machine. Each command has a timeout, and a failure raises
:class:`CommandFailed` with the command and what it printed.

A run writes its process ID to ``/run/talklab-netlab/<prefix>`` while its namespaces exist.
:func:`clean_leftovers` (``python -m talklab.netlab.shell --clean``) deletes the namespaces of
runs whose process is gone (killed before its teardown could run), and nothing else.

Tested in tests/test_netlab.py (not_permitted, and the namespaces listed before and after each run;
root only) and tests/test_classroom_netlab.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from talklab.netlab.plan import PREFIX, Step

OWNERS = Path("/run/talklab-netlab")
COMMAND_TIMEOUT = 10.0  # s; an ip or nft command takes milliseconds
_NS = re.compile(r"^(tl[0-9a-f]{4})-")


class CommandFailed(RuntimeError):
    def __init__(self, step: Step, returncode: int | None, output: str) -> None:
        self.step, self.returncode, self.output = step, returncode, output.strip()
        what = f"exit {returncode}" if returncode is not None else "timed out"
        super().__init__(f"{step} ({step.why}): {what}: {self.output or 'no output'}")


def run(step: Step, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run one command; its standard output, or :class:`CommandFailed`."""
    try:
        done = subprocess.run(step.argv, input=step.stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(step, None, str(exc.stderr or "")) from None
    except FileNotFoundError:
        raise CommandFailed(step, 127, f"{step.argv[0]}: not installed (make netlab-deps "
                            "installs iproute2 and nftables)") from None
    if done.returncode != 0:
        raise CommandFailed(step, done.returncode, done.stderr or done.stdout)
    return done.stdout


def namespaces() -> list[str]:
    """The names ``ip netns list`` shows."""
    out = run(Step(("ip", "netns", "list"), "which namespaces exist"))
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def links(namespace: str | None = None) -> list[str]:
    """The interface names of a namespace (the machine's own by default)."""
    argv = ("ip", "-o", "link", "show") if namespace is None else \
        ("ip", "-n", namespace, "-o", "link", "show")
    out = run(Step(argv, "which interfaces exist"))
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def not_permitted() -> str | None:
    """Why this process may not make network namespaces, or None if it may. Only a missing
    permission is a reason (not root; EPERM, as in an unprivileged container): a missing
    ``ip`` or any other failure raises, because that is a broken setup, not a limit."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); this process is not root"
    if shutil.which("ip") is None:
        raise CommandFailed(Step(("ip",), "iproute2"), 127,
                            "ip not installed: make netlab-deps installs iproute2 and nftables")
    probe = f"tl{os.getpid() % 0xFFFF:04x}-probe"
    try:
        run(Step(("ip", "netns", "add", probe), "may this process make a namespace?"))
    except CommandFailed as exc:
        if "Operation not permitted" in exc.output or "Permission denied" in exc.output:
            return f"creating a network namespace is not permitted here: {exc.output}"
        raise
    run(Step(("ip", "netns", "delete", probe), "the probe, gone"))
    return None


def claim(prefix: str) -> None:
    """Note that this process owns the namespaces of ``prefix``."""
    OWNERS.mkdir(parents=True, exist_ok=True)
    (OWNERS / prefix).write_text(str(os.getpid()))


def release(prefix: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (OWNERS / prefix).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers() -> list[str]:
    """Delete the namespaces of runs whose owning process is gone; the names deleted."""
    deleted = []
    owners = {p.name: p for p in OWNERS.iterdir()} if OWNERS.is_dir() else {}
    for name in namespaces():
        match = _NS.match(name)
        if match is None or match.group(1) not in owners:
            continue
        try:
            pid = int(owners[match.group(1)].read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            continue
        with contextlib.suppress(CommandFailed):
            run(Step(("ip", "netns", "delete", name), "a leftover"))
            deleted.append(name)
    for prefix, path in owners.items():
        if PREFIX.match(prefix) and not any(n.startswith(prefix + "-") for n in namespaces()):
            with contextlib.suppress(OSError):
                path.unlink()
    return deleted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m talklab.netlab.shell",
                                     description="the network lab's namespaces")
    parser.add_argument("--clean", action="store_true",
                        help="delete the namespaces of runs whose process is gone")
    args = parser.parse_args(argv)
    if args.clean:
        for name in clean_leftovers():
            print("deleted", name)
    for name in namespaces():
        if _NS.match(name):
            print(name)


if __name__ == "__main__":
    main()
