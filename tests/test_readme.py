"""The README's examples run as written: every ```python block that stands on its own (the
others continue a block above and say so by using its names) is run with top-level await,
as a notebook cell would run it."""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import pathlib
import re
import types

import pytest

import talklab

README = pathlib.Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _free_names(source: str) -> set[str]:
    """Names the block reads but never binds (beyond builtins and `talklab`)."""
    tree = ast.parse(source)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            bound.add(node.optional_vars.id)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}
    return read - bound - set(dir(builtins)) - {"talklab"}


STANDALONE = [b for b in BLOCKS if not _free_names(b)]


def test_the_readme_has_examples_that_stand_alone():
    assert len(STANDALONE) >= 3, [b[:60] for b in BLOCKS]


@pytest.mark.parametrize("source", STANDALONE, ids=lambda s: s.splitlines()[0][:40])
async def test_a_readme_example_runs_as_written(source):
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict = {"talklab": talklab}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = eval(code, namespace)
        if isinstance(result, types.CoroutineType):
            await result
    assert "Traceback" not in printed.getvalue()
