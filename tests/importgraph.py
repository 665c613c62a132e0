"""Reading a package's imports, and judging them: circles and imports up a layer.

Every import is read from the source with :mod:`ast`, wherever it is written: at the top of a
module, under ``if TYPE_CHECKING:``, inside a function, and ``importlib.import_module("name")``
(or ``__import__``) with a literal name. An import hidden in a function or behind
``TYPE_CHECKING`` breaks a circle at run time but not in the design, so it counts like any other.

Used by ``tests/test_layers.py`` (talklab's and the server's layers, drawn in DEVELOPERS.md).
"""

from __future__ import annotations

import ast
import os
import pathlib
from collections.abc import Iterable, Iterator, Mapping

Edge = tuple[str, str]  # (importer, imported), as absolute module names


# -- reading imports ---------------------------------------------------------------------------
def module_files(directory: pathlib.Path, package: str) -> dict[str, pathlib.Path]:
    """Every module under ``directory`` (a package installed as ``package``), by its absolute
    name: ``__init__.py`` names the package itself. Linked directories are not followed (so a
    module reached through a link is not counted twice)."""
    found: dict[str, pathlib.Path] = {}
    for folder, subfolders, files in os.walk(directory):  # (followlinks=False)
        here = pathlib.Path(folder)
        subfolders[:] = sorted(d for d in subfolders if (here / d / "__init__.py").exists())
        parts = here.relative_to(directory).parts
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            stem = file[:-3]
            name = ".".join([package, *parts] + ([] if stem == "__init__" else [stem]))
            found[name] = here / file
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name a relative import ``from <level dots><name> import ...`` means."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]  # a module's imports are relative to its package
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _literal_import(call: ast.Call, module: str, is_package: bool) -> str | None:
    """The module named by ``importlib.import_module("...")`` or ``__import__("...")`` with a
    literal name (relative names resolved against ``package=__package__``), else None."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    name = first.value
    if called == "import_module" and name.startswith("."):
        level = len(name) - len(name.lstrip("."))
        return _resolve(module, is_package, level, name.lstrip(".") or None)
    return name


def imports_of(source: str, module: str, is_package: bool,
               known: Iterable[str] = ()) -> set[str]:
    """Every module that ``source`` (the text of ``module``) imports, anywhere in it, as
    absolute names. ``from X import y`` counts as importing ``X.y`` when that is one of the
    ``known`` modules (a submodule), and ``X`` otherwise (a name defined in ``X``)."""
    modules = set(known)
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else base)
        elif isinstance(node, ast.Call):
            name = _literal_import(node, module, is_package)
            if name:
                out.add(name)
    out.discard(module)
    return out


def package_edges(directory: pathlib.Path, package: str) -> set[Edge]:
    """Every import edge ``(importer, imported)`` from a module of ``directory`` (installed as
    ``package``), to any module at all (the standard library included: filter as you need)."""
    files = module_files(directory, package)
    edges: set[Edge] = set()
    for name, path in files.items():
        for imported in imports_of(path.read_text(), name, path.name == "__init__.py", files):
            edges.add((name, imported))
    return edges


# -- judging the graph -------------------------------------------------------------------------
def circles(edges: Iterable[Edge], among: Iterable[str]) -> list[list[str]]:
    """The import circles among the modules ``among``: each strongly connected group of two
    or more (or a module importing itself), as one circle through it, ``[a, b, ..., a]``."""
    nodes = set(among)
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        if a in nodes and b in nodes:
            graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm (the graphs here are small)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(sorted(group))

    for v in sorted(nodes):
        if v not in index:
            connect(v)
    return [_one_circle(group, graph) for group in sorted(groups)]


def _one_circle(group: list[str], graph: Mapping[str, list[str]]) -> list[str]:
    """A circle through the first module of a strongly connected group (breadth first, so
    the shortest), to name in a failure."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in graph[v]:
                if w == start:
                    return [*paths[v], start]
                if w in members and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return [*group, group[0]]  # (unreachable: a group is strongly connected)


def upward(edges: Iterable[Edge], layer_of: Mapping[str, int]) -> list[Edge]:
    """The edges that run from a module to one of a HIGHER layer (a bigger number is higher;
    modules of one layer may import each other, as long as there is no circle)."""
    return sorted((a, b) for a, b in edges
                  if a in layer_of and b in layer_of and layer_of[b] > layer_of[a])


def describe(edges: Iterable[Edge]) -> Iterator[str]:
    for a, b in edges:
        yield f"{a} -> {b}"
