"""The course's contract, notebook by notebook (see DEVELOPERS.md, "Writing a notebook").

* committed clean (no outputs), with a kernelspec, no ``asyncio.run``, nothing pointing outside
  the repository;
* it opens with what you will learn and the seed's sections, closes with key takeaways;
* from 01 on: at least two predictions (cells tagged ``prediction``, each compared with
  ``check.compare`` after the live cell) and at least one code exercise (a cell tagged
  ``exercise``, whose function the answer key in notebooks/answers/ solves);
* run top to bottom headless: no error, nothing on stderr, no raw Python repr in any output,
  and every exercise says "not yet" as committed (tests/test_exercises_NN.py runs each exercise's
  check with the answer key's solution, live, and sees "right");
* the capstone, run with the answer key's solution in, says "right";
* all of them together within the course's time budget.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import pathlib
import re
import tempfile
import time
from typing import TYPE_CHECKING

import pytest
from helpers import answer_key

if TYPE_CHECKING:  # (imported where used: nbformat's schema checker takes 1 to 3 s to import,
    import nbformat  # which every make-test worker would pay at collection, for one file)

ROOT = pathlib.Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
BUDGET = 240.0  # s for every notebook together, run as a learner runs them
# an object's repr, a dataclass's, or the list of Nones an awaited gather() leaves as a value
RAW_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|\b(?:[A-Z]\w+)\((?:\w+=)"
                      r"|^\[None(?:, None)*\]$")
OUTSIDE = re.compile(r"\.\./|shared/seed|/work/|talkrooms200-architecture\.md")
seconds: dict[str, float] = {}


def cells(path: pathlib.Path, tag: str) -> list[dict]:
    raw = json.loads(path.read_text())
    return [c for c in raw["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def execute(nb: nbformat.NotebookNode, path: pathlib.Path) -> nbformat.NotebookNode:
    """Run ``nb`` in a kernel of its own. The kernel talks over Unix sockets named after its
    own connection file, not TCP ports: a port jupyter_client picks free can be taken by
    another test's server before the kernel binds it (make test's workers run at once), and
    the client then reads a stranger ("b'<IDS|MSG>' is not in list")."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="talklab-kernel-") as sockets:
        # an absolute path: the kernel runs in the notebook's folder, the client here
        manager = AsyncKernelManager(kernel_name="python3", transport="ipc",
                                     ip=os.path.join(sockets, "kernel"))
        NotebookClient(nb, km=manager, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text_of(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "".join(str(data.get(k, "")) for k in ("text/plain", "text/html", "text/markdown"))


def test_the_course_has_its_notebooks_numbered():
    names = [p.name for p in NOTEBOOKS]
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(len(names))] and len(names) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_follows_the_course_shape(path):
    raw = json.loads(path.read_text())
    assert raw["metadata"]["kernelspec"]["name"] == "python3"  # no "Select Kernel" dialog
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), \
        "commit notebooks with outputs stripped"
    first = "".join(raw["cells"][0]["source"])
    assert "You will learn" in first and "Seed:" in first
    markdown = [c for c in raw["cells"] if c["cell_type"] == "markdown"]
    for cell in markdown:  # prose, not a script's comments: every line "# ..." renders as a title
        lines = "".join(cell["source"]).split("\n")
        assert len(lines) == 1 or not all(line.startswith("# ") or line == "#" for line in lines), \
            "".join(cell["source"])[:80]
    assert "Key takeaways" in "".join(markdown[-1]["source"]), "end with key takeaways"
    everything = "".join("".join(c["source"]) for c in raw["cells"])
    assert "asyncio.run(" not in everything
    assert not OUTSIDE.search(everything), OUTSIDE.search(everything)
    if path.name >= "01":
        predictions = cells(path, "prediction")
        assert len(predictions) >= 2, "at least two predictions"
        assert everything.count("check.compare(") >= len(predictions)
        assert cells(path, "exercise"), "at least one code exercise"


@pytest.mark.nbclient  # make test runs them in real JupyterLab instead (tests/test_jupyterlab.py)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_as_committed(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    execute(nb, path)
    seconds[path.stem] = time.perf_counter() - start
    found = outputs(nb)
    assert not [o for o in found if o.output_type == "error"]
    assert not [o for o in found if o.output_type == "stream" and o.get("name") == "stderr"], \
        [text_of(o) for o in found if o.get("name") == "stderr"]
    raw = [text_of(o) for o in found if RAW_REPR.search(text_of(o))]
    assert not raw, raw[:3]
    for cell in nb.cells:
        if "exercise-check" in cell.get("metadata", {}).get("tags", []):
            said = "".join(text_of(o) for o in cell.outputs)
            assert "not yet" in said, said  # the stub is not yet right, and says so


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name >= "01"], ids=lambda p: p.stem)
def test_every_exercise_has_its_solution_in_the_answer_key(path):
    key = answer_key(path.name[:2])
    for cell in cells(path, "exercise"):
        name = cell["metadata"]["talklab"]["exercise"]
        assert callable(getattr(key, name, None)), f"answers/{path.name[:2]}.py lacks {name}"
    assert cells(path, "exercise-check"), "each exercise is followed by its check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_prediction_is_in_the_answer_key(path):
    """The teacher's key answers each prediction the notebook asks, under the same name."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    asked = {c.metadata.get("talklab", {}).get("prediction") for c in nb.cells} - {None}
    assert asked == set(getattr(answer_key(path.name[:2]), "PREDICTIONS", {})), asked


def with_answers(path: pathlib.Path) -> nbformat.NotebookNode:
    """The notebook with every exercise cell replaced by the answer key's solution."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    key = answer_key(path.name[:2])
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "exercise" in tags:
            cell.source = inspect.getsource(getattr(key, cell["metadata"]["talklab"]["exercise"]))
    return nb


def test_the_capstone_filled_in_with_the_answer_key_says_right():
    (path,) = [p for p in NOTEBOOKS if p.name.startswith("09")]
    nb = execute(with_answers(path), path)
    checks = [c for c in nb.cells if "exercise-check" in c.get("metadata", {}).get("tags", [])]
    assert checks
    for cell in checks:
        said = "".join(text_of(o) for o in cell.outputs)
        assert "right" in said and "not yet" not in said, said


@pytest.mark.nbclient
def test_all_notebooks_together_fit_the_budget():
    if len(seconds) < len(NOTEBOOKS):
        pytest.skip("runs after every notebook has been executed")
    assert sum(seconds.values()) < BUDGET, seconds


# -- a cell that reports on a room says what it reports on (issue 19) -------------------------
# A "live" name holds a lab that a re-run cell replaces (`await talklab.Lab()`, `await
# talklab.Classroom()`), or something that lives and dies with one: its people, their calls,
# Socket.IO clients of its server, live views of its room. (Pictures and measurements taken
# earlier are not live: they say what the room was, and stay true.)
LIVE_MAKERS = {"Lab", "Classroom", "join", "rehearse", "RoomPanel", "DaveChecklist",
               "LinkStatsView", "MeshView", "link_to", "SignalingClient", "connect",
               "StunServer"}
POPULATES = {"join", "rehearse", "Lab", "Classroom", "connect"}  # a cell adding people stands
# alone: run after the cell that makes the lab again, it adds them to the new lab


def _calls(node) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_live(value, live: set[str]) -> bool:
    """Does ``value`` evaluate to a live thing (see LIVE_MAKERS), as far as its shape shows?"""
    if isinstance(value, ast.Await):
        return _is_live(value.value, live)
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in LIVE_MAKERS
    if isinstance(value, ast.Name):
        return value.id in live
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_live(e, live) for e in value.elts)
    if isinstance(value, (ast.ListComp, ast.GeneratorExp)):
        return _is_live(value.elt, live)
    if isinstance(value, ast.Subscript):  # lab.people["Alice"]
        return isinstance(value.value, ast.Attribute) and value.value.attr in ("people", "links")
    return False


def _closes_only(tree, names: set[str]) -> bool:
    """Every use of ``names`` in the cell is ``X.close()`` (the notebook's closing cell)."""
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names
            and isinstance(n.ctx, ast.Load)]
    closers = {id(c.func.value) for c in ast.walk(tree) if isinstance(c, ast.Call)
               and isinstance(c.func, ast.Attribute) and c.func.attr == "close"
               and isinstance(c.func.value, ast.Name)}
    loops = {id(n) for f in ast.walk(tree) if isinstance(f, ast.For)
             for n in ast.walk(f.iter) if isinstance(n, ast.Name)}  # for c in (...): c.close()
    return all(id(n) in closers or id(n) in loops for n in uses)


def room_readers(path: pathlib.Path) -> list[int]:
    """The code cells (indices) that read, without adding people, a lab, a person or a room
    that an earlier cell made: the cells that must be tagged ``reports``."""
    raw = json.loads(path.read_text())
    live: set[str] = set()
    populates = set(POPULATES)  # and the notebook's own functions that add people
    readers = []
    for index, cell in enumerate(raw["cells"]):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        earlier = _loads(tree) & live
        if earlier and not _calls(tree) & populates and not _closes_only(tree, earlier):
            readers.append(index)
        populates |= {f.name for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef)
                      and _calls(f) & populates}
        for node in ast.walk(tree):  # what this cell binds to live things
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                live = live | names if _is_live(node.value, live) else live - names
            elif isinstance(node, ast.For) and _is_live(node.iter, live):
                live |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return readers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_that_reports_on_a_room_is_tagged_and_checks_it_first(path):
    raw = json.loads(path.read_text())
    tagged = {i for i, c in enumerate(raw["cells"])
              if "reports" in c.get("metadata", {}).get("tags", [])}
    untagged = [("".join(raw["cells"][i]["source"]).splitlines() or [""])[0]
                for i in room_readers(path) if i not in tagged]
    assert not untagged, f"cells reading the room, not tagged `reports`: {untagged}"
    for i in sorted(tagged):
        tree = ast.parse("".join(raw["cells"][i]["source"]))
        first = tree.body[0] if tree.body else None
        assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call) and \
            ast.unparse(first.value.func) == "check.ready", \
            f"a `reports` cell starts with check.ready(...): {ast.unparse(tree)[:80]}"
    if tagged:
        assert cells(path, "lab"), "a notebook with `reports` cells tags the cell making its lab"


GLOSSARY = ROOT / "notebooks" / "glossary.md"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """The ids JupyterLab gives a markdown text's headings (the text, spaces as dashes)."""
    return {re.sub(r"[`*]", "", line.lstrip("#").strip()).replace(" ", "-")
            for line in markdown.splitlines() if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("path", [*NOTEBOOKS, GLOSSARY], ids=lambda p: p.stem)
def test_every_link_resolves(path):
    if path.suffix == ".ipynb":
        texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                 if c["cell_type"] == "markdown"]
    else:
        texts = [path.read_text()]
    own = anchors("\n".join(texts))
    for target in (m for text in texts for m in LINK.findall(text)):
        assert not re.match(r"[a-z]+:", target), f"a link beyond the course: {target}"
        file, _, fragment = target.partition("#")
        linked = (path.parent / file) if file else path
        assert linked.exists(), f"{path.name}: {target} (no such file)"
        if fragment:
            heads = own if not file else anchors(linked.read_text())
            assert fragment in heads, f"{path.name}: {target} (no such heading)"


def test_the_glossary_spells_out_every_acronym_the_course_uses():
    text = GLOSSARY.read_text()
    for term in ("ICE", "STUN", "TURN", "SDP", "DTLS", "NAT", "RTP", "RTCP", "SRTP", "Opus",
                 "jitter-buffer", "SFU", "MCU"):
        assert term in anchors(text), term
    for path in NOTEBOOKS:  # each links it
        assert "glossary.md#" in path.read_text(), f"{path.name} never links the glossary"
