"""tests/parallel.py's lists name real tests: a renamed file or test must be renamed there too,
or it would silently share the machine (or another worker's network namespaces). And its locks
keep the machine for a worker between two exclusive tests, and only then."""

from __future__ import annotations

import fcntl
import os

import parallel


def test_every_exclusive_and_together_entry_names_a_test_that_exists():
    assert parallel.unknown() == []


def test_an_entry_that_names_nothing_is_found():
    parallel.EXCLUSIVE["test_no_such_file.py"] = "a test of the check"
    parallel.EXCLUSIVE["test_parallel.py::test_no_such_test"] = "a test of the check"
    try:
        assert parallel.unknown() == [
            "test_no_such_file.py: no file tests/test_no_such_file.py",
            "test_parallel.py::test_no_such_test: no test test_no_such_test in "
            "tests/test_parallel.py"]
    finally:
        del parallel.EXCLUSIVE["test_no_such_file.py"]
        del parallel.EXCLUSIVE["test_parallel.py::test_no_such_test"]


def test_a_file_or_one_test_of_it_is_exclusive_with_every_parametrization():
    assert parallel.is_exclusive("tests/test_jupyterlab.py::test_run_all_in_jupyterlab[00-x]")
    assert parallel.is_exclusive(
        "tests/test_redis.py::test_a_redis_that_stops_answering[fast-path]")
    assert not parallel.is_exclusive("tests/test_redis.py::test_the_dave_scenario[fast-path]")


def test_every_exclusive_test_goes_to_one_unit_of_work_test_jupyterlab_first():
    unit = parallel.Scheduler._split_scope  # (uses nothing of the scheduler's own)
    assert unit(None, "tests/test_redis.py::test_a_redis_that_stops_answering[fast-path]") \
        == parallel.ALONE
    assert unit(None, "tests/test_bench.py::test_signaling_storm_runs_and_loses_nothing") \
        == parallel.ALONE
    assert unit(None, "tests/test_jupyterlab.py::test_the_whole_course_fits_its_budget_in_"
                      "jupyterlab") == parallel.ALONE
    assert unit(None, "tests/test_redis.py::test_the_dave_scenario[fast-path]") \
        == "tests/test_redis.py"
    assert unit(None, "tests/test_netlab.py::test_x") == "netlab"
    names = ["tests/test_abuse.py::a", "tests/test_jupyterlab.py::b", "tests/test_zz.py::c",
             "tests/test_jupyterlab.py::d"]
    assert sorted(names, key=parallel.alone_first) == [
        "tests/test_jupyterlab.py::b", "tests/test_jupyterlab.py::d", "tests/test_abuse.py::a",
        "tests/test_zz.py::c"]


def test_units_are_handed_out_exclusive_first_then_short_files_then_the_longest():
    units = {"tests/test_zz.py": 40, "netlab": 6, parallel.ALONE: 50, "tests/test_redis.py": 19,
             "tests/test_abuse.py": 21, "tests/test_socketio_protocol.py": 105}
    assert sorted(units, key=lambda unit: parallel.order(unit, units[unit])) == [
        parallel.ALONE, "tests/test_socketio_protocol.py", "tests/test_abuse.py",
        "tests/test_redis.py", "netlab", "tests/test_zz.py"]


def _can_share(folder: str) -> bool:
    """Whether a test on another worker could take the room beside whoever holds it now."""
    with open(os.path.join(folder, "room"), "a") as room:
        try:
            fcntl.flock(room, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(room, fcntl.LOCK_UN)
        return True


def test_a_worker_keeps_the_machine_from_one_exclusive_test_to_the_next(tmp_path):
    worker = parallel.Locks(str(tmp_path))
    with worker.hold(exclusive=True, next_exclusive=True):
        assert not _can_share(str(tmp_path))
    assert not _can_share(str(tmp_path))  # kept: the next test is exclusive too
    with worker.hold(exclusive=True, next_exclusive=False):
        assert not _can_share(str(tmp_path))
    assert _can_share(str(tmp_path))  # given back before a shared test
    with worker.hold(exclusive=False, next_exclusive=True):
        assert _can_share(str(tmp_path))
    assert _can_share(str(tmp_path))


def test_an_exclusive_test_is_alone_for_its_call_only(tmp_path):
    """(As tests/conftest.py's hooks use the locks.) Setup shares, the call is alone,
    teardown shares again; kept alone into the next test when that one is exclusive too."""
    worker = parallel.Locks(str(tmp_path))
    worker.enter(exclusive=False)  # setup
    assert _can_share(str(tmp_path))
    worker.alone()  # call
    assert not _can_share(str(tmp_path))
    worker.share()  # teardown: the next test is not exclusive
    assert _can_share(str(tmp_path))
    worker.leave()
    worker.enter(exclusive=False)
    worker.alone()
    worker.leave(keep=True)  # the next test is exclusive: kept through its setup
    worker.enter(exclusive=False)
    assert not _can_share(str(tmp_path))
    worker.leave()
    assert _can_share(str(tmp_path))
