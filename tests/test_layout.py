"""Where a module's tests live: a newcomer finds them by the module's name, or the module says.

The rule (DEVELOPERS.md, "Where the tests are"), for every module of ``talklab/`` and
``server/`` (installed as ``talklab.server``; modules listed as :mod:`importgraph` lists them):

* ``talklab/<pkg>/<mod>.py`` is tested by ``tests/test_<mod>.py`` or ``tests/test_<pkg>_<mod>.py``
  (``server/<mod>.py`` by ``tests/test_server_<mod>.py``, ``server/redis/<mod>.py`` by
  ``tests/test_redis_<mod>.py``, a package by its own name, leading underscores dropped: the
  ``_aiortc`` package is ``aiortc``). Where several modules or packages share a name (three
  ``room.py``, four ``server``), only ``tests/test_<pkg>_<mod>.py`` counts: ``test_room.py``
  would not say which room;
* or the last paragraph of the module's docstring begins ``Tested in tests/test_x.py`` and
  names one or more test files that exist, with why they are the place (a module exercised
  through a whole room, or one of several a test file covers);
* or it holds no logic: an ``__init__.py`` or ``__main__.py`` with no function or class in
  it (it re-exports, or calls another module's ``main``), or a module whose docstring's last
  paragraph begins ``No logic of its own:`` and says what it is instead.
"""

from __future__ import annotations

import ast
import pathlib
import re
from collections import Counter

from helpers import write_tree
from importgraph import module_files

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = "talklab.server"  # what server/ is installed as
TESTED_IN = "Tested in "
NO_LOGIC = "No logic of its own:"


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Every module of ``root/talklab`` and ``root/server``, by its absolute name."""
    return {**module_files(root / "talklab", "talklab"), **module_files(root / "server", SERVER)}


def _name_parts(module: str) -> tuple[str | None, str]:
    """``(package, module)`` as a test file's name spells them: ``talklab.browser.room`` ->
    ``("browser", "room")``, ``talklab._aiortc`` -> ``("talklab", "aiortc")``."""
    parts = [part.strip("_") for part in module.split(".")]
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def accepted_names(module: str, all_modules: list[str]) -> list[str]:
    """The names of the test files the rule accepts for ``module``, in the order to look."""
    package, name = _name_parts(module)
    shared = Counter(_name_parts(m)[1] for m in all_modules)[name] > 1
    names = [] if shared else [f"test_{name}.py"]
    if package:
        names.append(f"test_{package}_{name}.py")
    return names


def last_paragraph(path: pathlib.Path) -> str:
    """The last paragraph of a module's docstring ("" if it has none)."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", doc) if p.strip()]
    return paragraphs[-1] if paragraphs else ""


def named_tests(paragraph: str) -> list[str]:
    """The test files a ``Tested in`` paragraph names (``tests/test_x.py`` -> ``test_x.py``)."""
    return re.findall(r"\btests/(test_\w+\.py)\b", paragraph)


def holds_no_logic(path: pathlib.Path) -> bool:
    """An ``__init__.py``/``__main__.py`` with no function or class, or a module that says
    ``No logic of its own:``."""
    if path.name in ("__init__.py", "__main__.py"):
        tree = ast.parse(path.read_text())
        defines = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
        if not any(isinstance(node, defines) for node in ast.walk(tree)):
            return True
    return last_paragraph(path).startswith(NO_LOGIC)


def problems(root: pathlib.Path) -> list[str]:
    """Each module of ``root`` the rule finds no tests for, and each ``Tested in`` line that
    names a test file ``root/tests`` does not have, as one line a newcomer can act on."""
    found = modules(root)
    tests = root / "tests"
    out = []
    for module, path in sorted(found.items()):
        where = path.relative_to(root)
        paragraph = last_paragraph(path)
        if paragraph.startswith(TESTED_IN):
            named = named_tests(paragraph)
            missing = [name for name in named if not (tests / name).is_file()]
            if not named:
                out.append(f"{module} ({where}): its 'Tested in' line names no tests/test_*.py")
            elif missing:
                out.append(f"{module} ({where}): its 'Tested in' line names "
                           + ", ".join(f"tests/{name}" for name in missing)
                           + ", which does not exist")
            continue
        expected = accepted_names(module, list(found))
        if any((tests / name).is_file() for name in expected) or holds_no_logic(path):
            continue
        out.append(f"{module} ({where}): no " + " or ".join(f"tests/{n}" for n in expected)
                   + f", and its docstring does not end with '{TESTED_IN}tests/test_x.py "
                   f"(why)' or '{NO_LOGIC} ...'")
    return out


def test_every_module_has_tests_a_newcomer_can_find():
    found = problems(ROOT)
    assert not found, ("modules whose tests cannot be found by their name (DEVELOPERS.md, "
                       "\"Where the tests are\"):\n" + "\n".join(found))


# -- the checker, on a made-up tree ------------------------------------------------------------
def test_an_uncovered_module_and_a_wrong_tested_in_line_are_reported(tmp_path):
    root = write_tree(tmp_path, {
        "talklab/__init__.py": '"""Re-exports."""\nfrom .found import f\n',
        "talklab/found.py": "def f(): ...\n",
        "talklab/lonely.py": '"""Logic nobody tests."""\ndef g(): ...\n',
        "talklab/said.py": '"""Logic.\n\nTested in tests/test_found.py (g through f)."""\n'
                           "def h(): ...\n",
        "talklab/wrong.py": '"""Logic.\n\nTested in tests/test_gone.py (renamed since)."""\n'
                            "def i(): ...\n",
        "talklab/table.py": '"""A table.\n\nNo logic of its own: numbers."""\nX = 1\n',
        "talklab/a/__init__.py": "",
        "talklab/a/room.py": "def j(): ...\n",
        "talklab/b/__init__.py": "def k(): ...\n",
        "talklab/b/room.py": "def m(): ...\n",
        "server/__init__.py": "",
        "server/room.py": "def n(): ...\n",
        "tests/test_found.py": "",
        "tests/test_room.py": "",  # says no room of the three
        "tests/test_a_room.py": "",
    })
    assert problems(root) == [
        "talklab.b (talklab/b/__init__.py): no tests/test_b.py or tests/test_talklab_b.py, and "
        "its docstring does not end with 'Tested in tests/test_x.py (why)' or 'No logic of its "
        "own: ...'",
        "talklab.b.room (talklab/b/room.py): no tests/test_b_room.py, and its docstring does "
        "not end with 'Tested in tests/test_x.py (why)' or 'No logic of its own: ...'",
        "talklab.lonely (talklab/lonely.py): no tests/test_lonely.py or "
        "tests/test_talklab_lonely.py, and its docstring does not end with 'Tested in "
        "tests/test_x.py (why)' or 'No logic of its own: ...'",
        "talklab.server.room (server/room.py): no tests/test_server_room.py, and its "
        "docstring does not end with 'Tested in tests/test_x.py (why)' or 'No logic of its "
        "own: ...'",
        "talklab.wrong (talklab/wrong.py): its 'Tested in' line names tests/test_gone.py, "
        "which does not exist",
    ]


def test_the_names_the_rule_accepts():
    everything = ["talklab", "talklab._aiortc", "talklab.browser.room", "talklab.janus.room",
                  "talklab.server", "talklab.server.redis.wire", "talklab.janus.server",
                  "talklab.classroom.__main__"]
    assert accepted_names("talklab.browser.room", everything) == ["test_browser_room.py"]
    assert accepted_names("talklab.server.redis.wire", everything) == [
        "test_wire.py", "test_redis_wire.py"]
    assert accepted_names("talklab._aiortc", everything) == [
        "test_aiortc.py", "test_talklab_aiortc.py"]
    assert accepted_names("talklab.classroom.__main__", everything) == [
        "test_main.py", "test_classroom_main.py"]
    assert accepted_names("talklab", everything) == ["test_talklab.py"]
