"""Where a pytest run's time goes, by file: the table of DEVELOPERS.md ("Where make test's time
goes") from the output of ``pytest --durations=0``.

    make test PYTEST_ARGS=--durations=0 | tee run.txt
    .venv/bin/python tests/durations.py run.txt

Each file's seconds are the sum of its tests' setup, call and teardown as pytest timed them (on
several workers they overlap: the sum is more than the run's wall time). pytest leaves out what took
under 5 ms, so "timed tests" counts the calls it listed, not every test of the file.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

LINE = re.compile(r"\s*([\d.]+)s (call|setup|teardown)\s+(\S+?)::")


def by_file(lines: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Seconds and timed calls per test file."""
    seconds: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for line in lines:
        found = LINE.match(line)
        if found:
            name = found.group(3).removeprefix("tests/")
            seconds[name] += float(found.group(1))
            calls[name] += found.group(2) == "call"
    return seconds, calls


def table(seconds: Counter[str], calls: Counter[str], top: int = 14) -> str:
    """A Markdown table: the ``top`` files, the others as one row, and the whole run."""
    total = sum(seconds.values()) or 1.0
    rows = seconds.most_common()
    out = ["| file | timed tests | seconds | share |", "|---|---:|---:|---:|"]
    out += [f"| {name} | {calls[name]} | {s:.0f} | {100 * s / total:.0f} % |"
            for name, s in rows[:top]]
    rest = rows[top:]
    rest_s = sum(s for _, s in rest)
    out.append(f"| {len(rest)} other files | {sum(calls[n] for n, _ in rest)} | {rest_s:.0f} | "
               f"{100 * rest_s / total:.0f} % |")
    out.append(f"| **all** | {sum(calls.values())} | {total:.0f} | 100 % |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as log:
        print(table(*by_file(log.readlines())))
