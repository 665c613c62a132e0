"""The course's contract, notebook by notebook (see DEVELOPERS.md, "Writing a notebook").

* committed clean (no outputs), with a kernelspec, no ``asyncio.run``, nothing pointing outside
  the repository;
* it opens with what you will learn and the seed's sections, closes with key takeaways;
* from 01 on: at least two predictions (cells tagged ``prediction``, each compared with
  ``check.compare`` after the live cell) and at least one code exercise (a cell tagged
  ``exercise``, whose function the answer key in notebooks/answers/ solves);
* run top to bottom headless: no error, nothing on stderr, no raw Python repr in any output,
  and every exercise says "not yet" as committed (tests/test_exercises.py runs each exercise's
  check with the answer key's solution, live, and sees "right");
* the capstone, run with the answer key's solution in, says "right";
* all of them together within the course's time budget.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ANSWERS = ROOT / "notebooks" / "answers"
BUDGET = 240.0  # s for every notebook together, run as a learner runs them
# an object's repr, a dataclass's, or the list of Nones an awaited gather() leaves as a value
RAW_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|\b(?:[A-Z]\w+)\((?:\w+=)"
                      r"|^\[None(?:, None)*\]$")
OUTSIDE = re.compile(r"\.\./|shared/seed|/work/|talkrooms200-architecture\.md")
seconds: dict[str, float] = {}


def cells(path: pathlib.Path, tag: str) -> list[dict]:
    raw = json.loads(path.read_text())
    return [c for c in raw["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def answer_key(path: pathlib.Path):
    """The module notebooks/answers/NN.py holding the solutions for notebook NN."""
    key = ANSWERS / f"{path.name[:2]}.py"
    spec = importlib.util.spec_from_file_location(f"answers_{path.name[:2]}", key)
    assert spec is not None and spec.loader is not None, f"no answer key {key}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(nb: nbformat.NotebookNode, path: pathlib.Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=120, kernel_name="python3",
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
    key = answer_key(path)
    for cell in cells(path, "exercise"):
        name = cell["metadata"]["talklab"]["exercise"]
        assert callable(getattr(key, name, None)), f"answers/{path.name[:2]}.py lacks {name}"
    assert cells(path, "exercise-check"), "each exercise is followed by its check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_prediction_is_in_the_answer_key(path):
    """The teacher's key answers each prediction the notebook asks, under the same name."""
    nb = nbformat.read(path, as_version=4)
    asked = {c.metadata.get("talklab", {}).get("prediction") for c in nb.cells} - {None}
    assert asked == set(getattr(answer_key(path), "PREDICTIONS", {})), asked


def with_answers(path: pathlib.Path) -> nbformat.NotebookNode:
    """The notebook with every exercise cell replaced by the answer key's solution."""
    nb = nbformat.read(path, as_version=4)
    key = answer_key(path)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "exercise" in tags:
            cell.source = inspect.getsource(getattr(key, cell["metadata"]["talklab"]["exercise"]))
    return nb


def test_the_capstone_filled_in_with_the_answer_key_says_right():
    (path,) = [p for p in NOTEBOOKS if p.name.startswith("08")]
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
