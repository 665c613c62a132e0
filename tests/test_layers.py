"""talklab's and the server's layers: no import circle, and no import up a layer.

The layer maps are read from DEVELOPERS.md (```layers blocks, highest layer first; a name
``x.*`` stands for the package ``x`` and everything in it, and the most specific name that
matches a module places it). The imports are read by :mod:`importgraph` from every module of
``talklab/`` and ``server/`` (``talklab/server`` is a link to ``server/``: read once, as
``talklab.server``), wherever they are written.
"""

from __future__ import annotations

import pathlib
import re

from helpers import write_tree
from importgraph import Edge, circles, describe, module_files, package_edges, upward

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = "talklab.server"  # what server/ is installed as
SERVER_MAY_USE = {"talklab._service", "talklab.address", "talklab.events"}  # leaves it shares


def layer_maps(text: str) -> dict[str, list[tuple[str, list[str]]]]:
    """Each ```layers <package> block: [(layer, [names...]), ...], highest first. A line that
    starts with spaces continues the layer above."""
    maps = {}
    for package, body in re.findall(r"```layers (\S+)\n(.*?)```", text, flags=re.S):
        layers: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            if line[0].isspace():
                layers[-1][1].extend(line.split())
            else:
                name, *names = line.split()
                layers.append((name, names))
        maps[package] = layers
    return maps


def placed(modules: set[str], layers: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Each module's layer number (0 lowest), by the most specific name that matches it."""
    out = {}
    for module in modules:
        best: tuple[int, int] | None = None  # (how specific, layer)
        for i, (_, names) in enumerate(reversed(layers)):
            for name in names:
                exact = name == module
                under = name.endswith(".*") and (module == name[:-2]
                                                 or module.startswith(name[:-1]))
                if exact or under:
                    specific = len(name) + (1000 if exact else 0)
                    if best is None or specific > best[0]:
                        best = (specific, i)
        if best is not None:
            out[module] = best[1]
    return out


def _read() -> tuple[set[str], set[str], set[Edge], dict]:
    talklab = set(module_files(ROOT / "talklab", "talklab"))
    server = set(module_files(ROOT / "server", SERVER))
    edges = package_edges(ROOT / "talklab", "talklab") | package_edges(ROOT / "server", SERVER)
    maps = layer_maps((ROOT / "DEVELOPERS.md").read_text())
    return talklab, server, edges, maps


def test_no_import_circle_anywhere_in_talklab_or_the_server():
    talklab, server, edges, _ = _read()
    found = circles(edges, talklab | server)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_talklab_module_has_a_layer_and_no_import_runs_up():
    talklab, server, edges, maps = _read()
    layers = maps["talklab"]
    layer_of = placed(talklab | server, layers)
    assert sorted(talklab - set(layer_of)) == [], "modules on no layer of DEVELOPERS.md's map"
    found = upward(edges, layer_of)
    names = [name for name, _ in reversed(layers)]
    assert not found, "imports from a lower layer of a higher one:\n" + "\n".join(
        f"{a} ({names[layer_of[a]]}) -> {b} ({names[layer_of[b]]})" for a, b in found)


def test_every_server_module_has_a_layer_and_no_import_runs_up():
    _, server, edges, maps = _read()
    layer_of = placed(server, maps[SERVER])
    assert sorted(server - set(layer_of)) == [], "server modules on no layer of the map"
    found = upward(edges, layer_of)
    assert not found, "imports from a lower layer of a higher one:\n" + "\n".join(
        describe(found))


def test_every_name_on_a_map_is_a_module_that_exists():
    talklab, server, _, maps = _read()
    modules = talklab | server
    for package, layers in maps.items():
        for _, names in layers:
            for name in names:
                base = name.removesuffix(".*")
                assert base in modules, f"{package}'s map names {name}, which is gone"


def test_the_server_imports_nothing_of_talklab_but_two_leaves():
    """``import talklab.server`` loads no media stack."""
    _, server, edges, _ = _read()
    outside = {b for a, b in edges if a in server and b.split(".")[0] == "talklab"
               and b != SERVER and not b.startswith(SERVER + ".")}
    assert outside <= SERVER_MAY_USE, sorted(outside)


# -- the helpers, on made-up packages ----------------------------------------------------------
def test_a_map_places_a_module_by_its_most_specific_name():
    layers = layer_maps("```layers p\ntop  p p.views.*\n     p.x\nlow  p.views.draw p.*\n```")
    assert layers["p"] == [("top", ["p", "p.views.*", "p.x"]), ("low", ["p.views.draw", "p.*"])]
    where = placed({"p", "p.views", "p.views.draw", "p.y"}, layers["p"])
    assert where == {"p": 1, "p.views": 1, "p.views.draw": 0, "p.y": 0}


def _package(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    return write_tree(tmp_path / "pkg", files)
def test_every_kind_of_import_is_an_edge(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .a import A\n",
        "a.py": "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .b import B\nclass A: ...\n",
        "b.py": "def f():\n    from . import c\n    return c\n",
        "c.py": "import importlib\nm = importlib.import_module('pkg.sub.d')\n"
                "n = importlib.import_module('.a', __package__)\n",
        "sub/__init__.py": "",
        "sub/d.py": "from .. import b\nfrom ..a import A\nimport json, pkg.sub\n"
                    "x = __import__('pkg.c')\n",
    })
    edges = package_edges(root, "pkg")
    assert edges == {
        ("pkg", "pkg.a"), ("pkg.a", "__future__"), ("pkg.a", "typing"), ("pkg.a", "pkg.b"),
        ("pkg.b", "pkg.c"), ("pkg.c", "importlib"), ("pkg.c", "pkg.sub.d"), ("pkg.c", "pkg.a"),
        ("pkg.sub.d", "pkg.b"), ("pkg.sub.d", "pkg.a"), ("pkg.sub.d", "json"),
        ("pkg.sub.d", "pkg.sub"), ("pkg.sub.d", "pkg.c"),
    }
    found = circles(edges, module_files(root, "pkg"))
    assert found == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_a_linked_folder_is_not_read_twice(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": ""})
    (root / "other").mkdir()
    (root / "other" / "__init__.py").write_text("")
    (root / "linked").symlink_to(root / "other", target_is_directory=True)
    assert sorted(module_files(root, "pkg")) == ["pkg", "pkg.a", "pkg.other"]


def test_an_import_up_a_layer_is_named():
    edges = {("p.low", "p.high"), ("p.high", "p.low"), ("p.low", "json")}
    assert upward(edges, {"p.low": 0, "p.high": 1}) == [("p.low", "p.high")]
    assert circles(edges, ["p.low", "p.high"]) == [["p.high", "p.low", "p.high"]]
