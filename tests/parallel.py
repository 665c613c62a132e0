"""How `make test` shares two cores: which tests have the machine to themselves, and which
files run on one worker, one after the other (issue 21).

`make test` runs pytest-xdist: ``pytest -n 3 --dist loadfile``. Three workers on two cores,
because most tests spend most of their time waiting (on a network timeout, a heartbeat, a ping,
a call to connect): measured on this machine, the whole run kept its two cores 38 % busy with
two workers (731 s) and 42 % with three (641 s). Four were slower from a fresh clone (646 s
against 601 s): the shared tests slowed each other more than four gained. A loaded machine
finds races a quiet one hides. Those more workers found were fixed where they were, never
hidden by exclusivity or a looser bound: a kernel's TCP port taken by another test's server
before the kernel bound it (tests/test_notebooks.py's kernels use Unix sockets), a server that
kept queueing offers for a long-polling client it had already decided to drop
(server/transport.py now decides where the packet is queued), a Janus SFU join that missed news
of a publisher (talklab/janus/sfu.py), and two tests that assumed what a busy machine had not
done yet. What measures time is never among the others (EXCLUSIVE, below). Each file goes whole
to one worker, in its own order (its exclusive tests apart, with the others: ALONE below), so a
file's module-scoped fixtures and the tests that read what the tests before them left
(tests/test_jupyterlab.py's budget) work as they do in one process.

* **EXCLUSIVE**: a test that measures real time (a duration, a rate, a round trip, CPU, packets
  a second), whose outcome hangs on real time (which pair ICE nominates within its patience), or
  runs the course in real JupyterLab or real kernels must not share the machine. While one
  runs, it holds an exclusive lock; every other test holds a shared one (see :class:`Locks`),
  so nothing else runs beside it. An entry is a file name (every test in it) or
  ``file::test`` (every parametrization of that test function), each with its reason.
* **One unit for them all** (:data:`ALONE`): every exclusive test goes to one worker, one after
  the other (test_jupyterlab.py first), so the machine is handed over to them once instead of
  fifty times. Each handover waits for the tests the other workers have in flight (5.6 s on
  average, measured; up to half a minute for a network lab's): spread over the files, those
  waits cost 100 s of a run (issue 21's timeline).
* **TOGETHER**: files that touch something the whole machine shares (the network namespaces
  of ``ip netns``) run on one worker, one after the other (:class:`Scheduler`).

``tests/test_parallel.py`` fails if an entry names a file or a test that does not exist (a
renamed file must be renamed here too). tests/conftest.py applies both lists.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Iterator

from xdist.scheduler import LoadScopeScheduling

TESTS = pathlib.Path(__file__).parent

EXCLUSIVE: dict[str, str] = {
    # whole files
    "test_tiers.py": "round-trip times per route tier, and loss rates",
    "test_bench.py": "the benchmarks: packets a second and CPU",
    "test_load.py": "packets a second, real time, CPU, and the kernel's UDP queues (shared "
                    "by every lab on the machine: /proc/net/udp)",
    "test_interrupt.py": "real kernels interrupted mid-cell, watched from outside",
    "test_kernel.py": "a real kernel interrupted while a cell awaits a live lab",
    "test_jupyterlab.py": "the course in JupyterLab and Chromium, against its time budget (the "
                          "room panel's test measures nothing: it is a file of its own, and "
                          "shares)",
    # single tests
    "test_network_lab.py::test_the_textbook_matrix_is_the_same_every_run_and_turn_only_adds_relays":
        "the routes ICE nominates within its patience of 1 s: a loaded machine's late checks "
        "once turned a prflx call into a relayed one",
    "test_capture.py::test_a_two_person_call_recorded_and_read_by_tshark":
        "SRTP packets a second on the wire, 50 ± 2",
    "test_capture.py::test_round_trips_agree_with_tshark_report_by_report":
        "round trips of 100 ms, within 2 ms of tshark's, and the RFC formula's within a frame",
    "test_microphone.py::test_the_learner_is_dave_with_their_microphone_and_ears":
        "frames read in 3 s while a cell blocks (a rate), the learner's audio both ways within "
        "30 s (beside the other tests the page's frames came too late: a fresh clone), and "
        "latency timed by loudness (a busy machine delivers the page's frames in bursts)",
    "test_microphone.py::"
    "test_a_page_that_pushes_sixty_seconds_in_ten_leaves_the_kernels_memory_bounded":
        "measures no time, but keeps a core busy for 30 to 90 s (a kernel reading 3,000 "
        "messages): beside it, two fresh clones' real-time tests fell behind (the Chromium "
        "Dave test's server dropped its clients; the capstone counted 2 calls of 6)",
    "test_aiortc_adjustments.py::test_importing_the_signaling_server_loads_no_media_stack":
        "import time under 1 s",
    "test_aiortc_internals.py::test_the_check_is_done_once_per_process":
        "the check's time: under 2 s, then under 0.5 ms",
    "test_views.py::test_stats_view_reads_rates_and_stops_with_the_lab":
        "40 to 60 packets a second",
    "test_exercises_02.py::"
    "test_a_payload_read_as_attributes_is_told_about_dicts_and_wrongs_are_told_at_once":
        "two wrong relays told within 11 s",
    "test_exercises_03.py::test_each_usual_mistake_says_what_happened":
        "each mistake told within 15 s",
    "test_exercises_03.py::test_trickling_leaves_before_a_slow_stun_server_answers_gathering_waits":
        "trickling against gathering, in tenths of a second",
    "test_exercises_03.py::test_a_closed_link_stops_asking_the_stun_server":
        "connected before a STUN answer 2 s late",
    "test_classroom.py::test_a_student_hangs_up_at_once_after_the_teachers_turn_server_has_gone":
        "hanging up within 5 s",
    "test_redis.py::test_a_redis_that_stops_answering":
        "a stopped Redis noticed within 3 s",
    "test_redis_survival.py::test_offers_to_a_dead_servers_people_are_refused_at_once":
        "refused within 1 s",
    "test_redis_survival.py::test_health_in_redis_mode_is_one_lookup":
        "a lookup's time with 5,000 members against 10",
    "test_redis_wire.py::test_a_reply_that_does_not_come_fails_every_waiting_call_in_time":
        "failed within 1 s",
    "test_redis_wire.py::test_a_stopped_redis_fails_every_call_within_the_timeout":
        "failed within 1.5 s",
    "test_security.py::test_a_page_of_a_full_trace_is_cheap":
        "a page of the trace within 0.5 s",
}

# the one unit of work of every exclusive test, test_jupyterlab.py's first (tests/conftest.py
# orders them so): its JupyterLab starts while the machine is still shared
ALONE = "exclusive tests"
FIRST_IN_ALONE = "test_jupyterlab.py"

TOGETHER: dict[str, tuple[str, ...]] = {
    # test_netlab.py checks that no namespace of any network lab is left (and that a refused
    # build changed none), which another file's lab would break while it runs
    "netlab": ("test_netlab.py", "test_classroom_netlab.py"),
}


# The longest units first, as measured (their tests' seconds in a make-test timeline, less their
# waits for the room: tests/durations.py --timeline): the scheduler hands out the longest work
# first, so that the run does not end with one worker on a long file while the others have
# nothing left.
LONGEST: dict[str, float] = {
    "test_redis.py": 86, "netlab": 73, "test_microphone.py": 30,
    "test_room_panel_in_jupyterlab.py": 44,
    "test_socketio_protocol.py": 62, "test_abuse.py": 40, "test_exercises_09.py": 37,
    "test_network_lab.py": 23, "test_chromium_page.py": 21, "test_notebooks.py": 19,
    "test_exercises_03.py": 16, "test_views.py": 15, "test_redis_survival.py": 14,
    "test_exercises_05.py": 13, "test_coturn.py": 13, "test_exercises_08.py": 13,
}
# Before them, the unit of exclusive tests, and beside it two files of short tests (at most 3 s,
# and 9 s). Its JupyterLab starts while the others begin theirs, and its first Run All test takes
# the machine once that JupyterLab is up, after the tests then in flight on the other two workers:
# handed out beside it, a file whose first tests start a JupyterLab or a network lab
# (test_microphone.py's, 25 s) held that Run All test up by 19 s.
FIRST = (ALONE, "test_socketio_protocol.py", "test_abuse.py")


def alone_first(nodeid: str) -> int:
    """A sort key: test_jupyterlab.py's tests first (see :data:`ALONE`)."""
    return 0 if pathlib.PurePath(nodeid.split("::", 1)[0]).name == FIRST_IN_ALONE else 1


def _file_and_test(nodeid: str) -> tuple[str, str]:
    """``tests/test_x.py::Class::test_y[p]`` -> ``("test_x.py", "Class::test_y")``."""
    path, _, rest = nodeid.partition("::")
    return pathlib.PurePath(path).name, rest.split("[")[0]


def is_exclusive(nodeid: str) -> bool:
    name, test = _file_and_test(nodeid)
    return name in EXCLUSIVE or f"{name}::{test}" in EXCLUSIVE


def unknown() -> list[str]:
    """The entries of EXCLUSIVE, TOGETHER and LONGEST that name no file, or no test, in tests/."""
    wrong = []
    named = [*EXCLUSIVE, *(f for files in TOGETHER.values() for f in files), FIRST_IN_ALONE,
             *(name for name in [*LONGEST, *FIRST] if name not in TOGETHER and name != ALONE)]
    for entry in named:
        name, _, test = entry.partition("::")
        path = TESTS / name
        if not path.is_file():
            wrong.append(f"{entry}: no file tests/{name}")
        elif test and test not in _tests_in(path):
            wrong.append(f"{entry}: no test {test} in tests/{name}")
    return wrong


def _tests_in(path: pathlib.Path) -> set[str]:
    """The test functions of a file, as ``test_x`` and ``Class::test_x``."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            found |= {f"{node.name}::{f.name}" for f in node.body
                      if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
    return {name for name in found if name.split("::")[-1].startswith("test")}


_GROUP = {name: group for group, files in TOGETHER.items() for name in files}


def order(scope: str, tests: int) -> tuple[int, float, int]:
    """A sort key of units of work: FIRST in its order, then the LONGEST, then (as xdist does)
    the units with the most tests."""
    name = pathlib.PurePath(scope).name
    first = FIRST.index(name) if name in FIRST else len(FIRST)
    return first, -LONGEST.get(name, 0), -tests


class Scheduler(LoadScopeScheduling):
    """``--dist loadfile``, with every exclusive test as one unit of work (:data:`ALONE`), the
    files of a TOGETHER group as one, handed out in :func:`order`."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        if is_exclusive(nodeid):
            return ALONE
        return _GROUP.get(pathlib.PurePath(path).name, path)

    def _assign_work_unit(self, node) -> None:  # node: an xdist WorkerController
        if self.workqueue:
            first = min(self.workqueue, key=lambda scope: order(scope, len(self.workqueue[scope])))
            self.workqueue.move_to_end(first, last=False)
        super()._assign_work_unit(node)


class Locks:
    """A lock every worker holds around each test: shared, or exclusive for EXCLUSIVE tests.

    Two ``flock`` files in a folder the controller makes for the run. Before taking the room, a
    test passes the gate, which a test waiting for the room exclusively keeps closed: tests
    that share never starve one that waits to be alone. An exclusive test shares the room
    while its fixtures are set up and torn down (starting JupyterLab, a lab's servers: nothing
    is measured there) and has it alone for its call only (:meth:`alone`, :meth:`share`). A
    worker whose next test is exclusive too keeps the room (:meth:`leave` with ``keep=True``):
    between tests/test_jupyterlab.py's twelve, the other workers would each start a test that
    the next one then waits for (up to 20 s for a network lab's). A worker never waits at the
    gate while it holds the room (two exclusive tests setting up at once would each wait for
    the other)."""

    def __init__(self, folder: str) -> None:
        self._gate = open(os.path.join(folder, "gate"), "a")  # noqa: SIM115 (open for the run)
        self._room = open(os.path.join(folder, "room"), "a")  # noqa: SIM115
        self._alone = False  # this worker holds the room exclusively
        self.waited = 0.0  # seconds this worker has waited for the gate and the room

    def _lock(self, file, how: int) -> None:
        started = time.monotonic()
        fcntl.flock(file, how)
        self.waited += time.monotonic() - started

    def enter(self, exclusive: bool) -> None:
        """Take the room, shared or alone (a worker that has it alone keeps it so)."""
        if self._alone:
            return
        self._lock(self._gate, fcntl.LOCK_EX)
        try:
            self._lock(self._room, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        self._alone = exclusive

    def alone(self) -> None:
        """From sharing the room to having it alone (let go first: see the class)."""
        if self._alone:
            return
        fcntl.flock(self._room, fcntl.LOCK_UN)
        self.enter(exclusive=True)

    def share(self) -> None:
        """From having the room alone to sharing it."""
        if self._alone:
            self._lock(self._room, fcntl.LOCK_SH)
            self._alone = False

    def leave(self, keep: bool = False) -> None:
        """Release the room, unless ``keep`` (this worker's next test is exclusive too)."""
        if keep and self._alone:
            return
        fcntl.flock(self._room, fcntl.LOCK_UN)
        self._alone = False

    @contextlib.contextmanager
    def hold(self, exclusive: bool, next_exclusive: bool = False) -> Iterator[None]:
        self.enter(exclusive)
        try:
            yield
        finally:
            self.leave(keep=exclusive and next_exclusive)


def new_lock_folder() -> str:
    return tempfile.mkdtemp(prefix="talklab-test-locks-")


def remove_lock_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
