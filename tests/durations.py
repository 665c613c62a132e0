"""Where a pytest run's time goes, by file: the table of DEVELOPERS.md ("Where make test's time
goes") from the output of ``pytest --durations=0``.

    make test PYTEST_ARGS=--durations=0 | tee run.txt
    .venv/bin/python tests/durations.py run.txt

Each file's seconds are the sum of its tests' setup, call and teardown as pytest timed them (on
several workers they overlap: the sum is more than the run's wall time). pytest leaves out what took
under 5 ms, so "timed tests" counts the calls it listed, not every test of the file.

Where a parallel run's wall time went (per worker: testing, waiting for the room, idle; the
exclusive calls; the longest waits and which file each worker ended on):

    TALKLAB_TIMELINE=$PWD/timeline.jsonl make test
    .venv/bin/python tests/durations.py --timeline timeline.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict

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


def timeline(lines: list[str]) -> str:
    """Where a parallel run's wall time went, from tests/conftest.py's TALKLAB_TIMELINE lines."""
    tests = [json.loads(line) for line in lines if line.strip()]
    if not tests:
        return "no tests in the timeline"
    begin = min(t["start"] for t in tests)
    end = max(t["end"] for t in tests)
    workers: dict[str, list[dict]] = defaultdict(list)
    for t in tests:
        workers[t["worker"]].append(t)
    out = [f"span {end - begin:.1f} s, {len(tests)} tests, {len(workers)} workers", "",
           "| worker | testing s | waiting s | idle s | last file | ends at s |",
           "|---|---:|---:|---:|---|---:|"]
    for name, mine in sorted(workers.items()):
        mine.sort(key=lambda t: t["start"])
        spent = sum(t["end"] - t["start"] for t in mine)
        waited = sum(t["waited"] for t in mine)
        last = mine[-1]
        out.append(f"| {name} | {spent - waited:.0f} | {waited:.0f} | {end - begin - spent:.0f} | "
                   f"{last['test'].split('::')[0].removeprefix('tests/')} | "
                   f"{last['end'] - begin:.0f} |")
    alone = [t for t in tests if t["exclusive"] and t["call"]]
    alone_s = sum(t["call"][1] - t["call"][0] for t in alone)
    out += ["", f"exclusive calls: {len(alone)}, {alone_s:.0f} s alone", "",
            "longest waits for the room:"]
    for t in sorted(tests, key=lambda t: -t["waited"])[:12]:
        out.append(f"  {t['waited']:6.1f} s at {t['start'] - begin:5.0f} s  {t['worker']}  "
                   f"{t['test']}")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1] == "--timeline":
        with open(sys.argv[2]) as log:
            print(timeline(log.readlines()))
    else:
        with open(sys.argv[1]) as log:
            print(table(*by_file(log.readlines())))
