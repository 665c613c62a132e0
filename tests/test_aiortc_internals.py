"""aiortc's and aioice's internals in one checked place (talklab/_aiortc/internals.py).

* the table matches the aiortc and aioice installed, and names every replacement and every
  private name talklab/_aiortc/ uses;
* nothing outside talklab/_aiortc/ names a private attribute of aiortc or aioice, directly or
  through a computed getattr/setattr/hasattr (read on the syntax tree of every module);
* a lab refuses to start, in one sentence naming what changed, when the installed package
  lacks an entry of the table, and leaves nothing running;
* what talklab wraps instead of copying (aioice's check_start, aiortc's receive) still does
  what the copies did.
"""

from __future__ import annotations

import ast
import asyncio
import queue
import re
import threading
import time
from pathlib import Path

import aioice
import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc.rtcrtpreceiver import RTCRtpReceiver

import talklab
from talklab import _aiortc
from talklab._aiortc import Settings, access, internals, registry
from talklab._aiortc.internals import TABLE, AiortcChanged
from talklab.netlab.pairing import Peer
from talklab.notebook import Sentence

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ("aiortc", "aioice")


@pytest.fixture(autouse=True)
def check_again():
    """Each test looks at aiortc and aioice afresh, and leaves the next to do the same."""
    internals.forget()
    yield
    internals.forget()


# -- the table against the packages installed ---------------------------------------------------
def test_the_table_matches_the_aiortc_and_aioice_installed():
    assert internals.problems() == []
    _aiortc.verify()


def test_the_versions_tested_are_pyproject_tomls_pins():
    text = (ROOT / "pyproject.toml").read_text()
    pins = dict(re.findall(r'"(aiortc|aioice)==([0-9.]+)"', text))
    assert pins == internals.TESTED
    assert internals.installed_versions() == {"aiortc": aiortc.__version__,
                                              "aioice": aioice.__version__}


def test_every_replacement_is_in_the_table_as_patched():
    _aiortc._load()
    replaced = {(internals.entry(p.owner, p.name), p.name) for p in registry._patches}
    assert all(e is not None for e, _ in replaced)
    assert {e for e, _ in replaced} == {e for e in TABLE if e.patched}
    with pytest.raises(LookupError, match="not in"):
        registry.patch(aioice.ice.Connection, "connect")


def test_each_entry_says_why_and_what_it_is():
    assert len({(e.owner, e.name) for e in TABLE}) == len(TABLE)
    for e in TABLE:
        assert e.why and e.kind in internals.KINDS
        if e.kind == "attribute":
            assert e.type and not e.signature and not e.uses, e.where
        if e.kind.startswith("coroutine") or e.kind in ("method", "function"):
            assert not e.type, e.where


def test_the_check_is_done_once_per_process():
    t = time.perf_counter()
    _aiortc.verify()
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(100):
        _aiortc.verify()
    again = (time.perf_counter() - t) / 100
    assert again < 0.0005 and first < 2.0, (first, again)
    assert not [t for t in threading.enumerate() if t.name == "talklab-aiortc-check"]


# -- nothing outside talklab/_aiortc names a private attribute of aiortc or aioice -----------------
def _defined(paths: list[Path]) -> set[str]:
    """The private names ``paths`` define: ``self._x`` assigned in a method, methods,
    functions, classes and class attributes named ``_x``, and ``self.__x`` and ``def __x`` in
    class ``C`` as Python stores them, ``_C__x``."""
    names: set[str] = set()

    def add(name: str, cls: str | None) -> None:
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            return
        if name.startswith("__") and cls is not None:
            name = f"_{cls.lstrip('_')}{name}"
        names.add(name)

    def visit(node: ast.AST, cls: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                add(child.name, None)
                for item in child.body:
                    targets = (item.targets if isinstance(item, ast.Assign) else
                               [item.target] if isinstance(item, ast.AnnAssign) else [])
                    for target in targets:
                        if isinstance(target, ast.Name):
                            add(target.id, child.name)
                visit(child, child.name)
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                add(child.name, cls)
            elif (isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store)
                  and isinstance(child.value, ast.Name) and child.value.id == "self"):
                add(child.attr, cls)
            elif cls is None and isinstance(child, ast.Assign) and node is not None:
                for target in child.targets:
                    if isinstance(target, ast.Name) and isinstance(node, ast.Module):
                        add(target.id, None)
            visit(child, cls)

    for path in paths:
        visit(ast.parse(path.read_text(), str(path)), None)
    return names


def _upstream_sources() -> list[Path]:
    return [p for package in (aiortc, aioice)
            for p in sorted(Path(package.__file__).parent.rglob("*.py"))]


def _modules(*, inside_aiortc: bool = False) -> dict[Path, str]:
    """talklab's, the server's and bench's modules (the talklab/server link resolved, so that
    none counts twice), by file, with their dotted names; only or none of talklab/_aiortc."""
    found: dict[Path, str] = {}
    for top in ("talklab", "server", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            real = path.resolve()
            if real in found or "node_modules" in real.parts:
                continue
            rel = real.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[0] == "server":
                parts.insert(0, "talklab")
            if parts[-1] == "__init__":
                parts.pop()
            in_aiortc = parts[:2] == ["talklab", "_aiortc"]
            if in_aiortc == inside_aiortc:
                found[real] = ".".join(parts)
    return found


PRIVATE = _defined(_upstream_sources())
OWN = _defined(list(_modules()))  # (talklab's own _closed, _queue...: names of its classes)
REACHABLE = PRIVATE - OWN
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr", "attrgetter",
                       "__getattribute__", "__setattr__"}


class _Checker(ast.NodeVisitor):
    """The places in one module that name a private attribute of aiortc or aioice."""

    def __init__(self, module: str, is_package: bool, tree: ast.Module,
                 classes: dict[str, dict[str, ast.ClassDef]],
                 imports: dict[str, dict[str, str]]) -> None:
        self.module, self.is_package = module, is_package
        self.classes, self.imports = classes, imports
        self.stack: list[ast.ClassDef] = []
        self.found: list[str] = []
        self.visit(tree)

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.module}:{getattr(node, 'lineno', '?')}: {what}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node)
        self.generic_visit(node)
        self.stack.pop()

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and (node.module or "").split(".")[0] in UPSTREAM:
            for alias in node.names:
                if alias.name.startswith("_"):
                    self.flag(node, f"imports {node.module}.{alias.name}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in REACHABLE:
            self.flag(node, f"names .{node.attr}")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        holder = node.value
        is_dict = ((isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name)
                    and holder.func.id == "vars")
                   or (isinstance(holder, ast.Attribute) and holder.attr == "__dict__"))
        if (is_dict and isinstance(key, ast.Constant) and isinstance(key.value, str)
                and key.value in REACHABLE):
            self.flag(node, f"reads {key.value!r} from an object's __dict__")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else None
        if name in ATTRIBUTE_FUNCTIONS:
            index = 0 if name == "attrgetter" else 1
            receiver = node.args[0] if node.args and index == 1 else None
            if len(node.args) > index:
                self.check_name(node, node.args[index], receiver)
        self.generic_visit(node)

    def check_name(self, node: ast.Call, arg: ast.expr, receiver: ast.expr | None) -> None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if arg.value in REACHABLE:
                self.flag(node, f"reaches {arg.value!r} through a computed name")
            return
        prefix = _prefix(arg)
        if prefix is None or not prefix.startswith("_"):
            return
        if not any(n.startswith(prefix) for n in REACHABLE):
            return
        if (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls") and self.stack
                and not self.derived(self.module, self.stack[-1].name, set())):
            return  # its own attributes: a talklab class with nothing of aiortc's above it
        self.flag(node, f"reaches {prefix!r}... through a computed name")

    def derived(self, module: str, name: str, seen: set[tuple[str, str]]) -> bool:
        """Whether class ``name`` of ``module`` has an aiortc or aioice class among its bases."""
        if (module, name) in seen or name not in self.classes.get(module, {}):
            return False
        seen.add((module, name))
        imports = self.imports.get(module, {})
        for base in self.classes[module][name].bases:
            root = base
            while isinstance(root, ast.Attribute):
                root = root.value
            if not isinstance(root, ast.Name):
                continue
            origin = imports.get(root.id, "")
            if origin.split(".")[0] in UPSTREAM:
                return True
            if isinstance(base, ast.Name):
                if root.id in self.classes.get(module, {}):
                    if self.derived(module, root.id, seen):
                        return True
                elif origin:
                    where, _, cls = origin.rpartition(".")
                    if self.derived(where, cls, seen):
                        return True
        return False


def _prefix(arg: ast.expr) -> str | None:
    """The literal start of a name built as ``"_x" + y`` or ``f"_x{y}"``, if it has one."""
    while isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add):
        arg = arg.left
    if isinstance(arg, ast.JoinedStr) and arg.values:
        arg = arg.values[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def _index(trees: dict[str, tuple[ast.Module, bool]]
           ) -> tuple[dict[str, dict[str, ast.ClassDef]], dict[str, dict[str, str]]]:
    """Per module: its top-level classes, and where each imported name comes from (dotted)."""
    classes: dict[str, dict[str, ast.ClassDef]] = {}
    imports: dict[str, dict[str, str]] = {}
    for module, (tree, is_package) in trees.items():
        classes[module] = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        names: dict[str, str] = {}
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = \
                        alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{base}.{alias.name}"
        imports[module] = names
    return classes, imports


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """What ``sources`` (module name -> (its source, whether it is a package)) name of aiortc's
    and aioice's private attributes."""
    trees = {m: (ast.parse(text, m), package) for m, (text, package) in sources.items()}
    classes, imports = _index(trees)
    found: list[str] = []
    for module, (tree, package) in trees.items():
        found += _Checker(module, package, tree, classes, imports).found
    return found


def test_the_private_names_come_from_aiortc_and_aioice_themselves():
    for name in ("_connection", "_nominated", "_check_list", "_protocols", "_local_candidates",
                 "_RTCRtpSender__packet_count", "_RTCRtpReceiver__remote_streams",
                 "_RTCDtlsTransport__tx_bytes", "_RTCRtpSender__stats", "_handle_rtcp_packet",
                 "_set_role", "_RTCRtpReceiver__decoder_queue", "_check_list_maybe_fail"):
        assert name in REACHABLE, name
    assert "_closed" in PRIVATE and "_closed" not in REACHABLE  # talklab's Link has its own


def test_no_module_outside_talklab_aiortc_names_a_private_attribute_of_aiortc_or_aioice():
    modules = _modules()
    assert len(modules) > 100 and any(m.startswith("talklab.server") for m in modules.values())
    sources = {name: (path.read_text(), path.name == "__init__.py")
               for path, name in modules.items()}
    assert violations(sources) == []


@pytest.mark.parametrize("code, wanted", [
    ("def f(pc):\n    return pc.transport._connection\n", "names ._connection"),
    ("def f(c):\n    c._nominated.get(1)\n", "names ._nominated"),
    ("def f(s):\n    return getattr(s, '_RTCRtpSender__packet_count', 0)\n",
     "reaches '_RTCRtpSender__packet_count'"),
    ("def f(r, n):\n    return getattr(r, '_RTCRtpReceiver__' + n)\n",
     "reaches '_RTCRtpReceiver__'"),
    ("def f(r, n):\n    setattr(r, f'_RTCRtpReceiver__{n}', 1)\n", "reaches '_RTCRtpReceiver__'"),
    ("def f(c):\n    return hasattr(c, '_check_list')\n", "reaches '_check_list'"),
    ("def f(c):\n    return vars(c)['_protocols']\n", "reads '_protocols'"),
    ("from aioice.ice import _something\n", "imports aioice.ice._something"),
    ("from aiortc.mediastreams import MediaStreamTrack\n"
     "class T(MediaStreamTrack):\n    def f(self, n):\n        return getattr(self, '_' + n)\n",
     "reaches '_'"),
])
def test_the_check_sees_each_way_of_naming_one(code, wanted):
    (found,) = violations({"talklab.example": (code, False)})
    assert wanted in found


def test_the_check_leaves_talklabs_own_attributes_alone():
    code = ("class Link:\n    def __init__(self):\n        self._closed = False\n"
            "    def handle(self, event):\n        return getattr(self, '_on_' + event, None)\n"
            "    def any(self, event):\n        return getattr(self, '_' + event, None)\n"
            "def closed(link):\n    return link._closed\n")
    assert violations({"talklab.example": (code, False)}) == []


def test_the_table_names_every_private_name_talklab_aiortc_uses():
    """Inside talklab/_aiortc, every private name of aiortc's or aioice's that its code spells
    out (an attribute, or a string such as a mangled name) is an entry of the table."""
    modules = _modules(inside_aiortc=True)
    ours = _defined(list(modules))  # (LoopDecoder's _output, the Patch registry...)
    used: set[str] = set()
    for path in modules:
        if path.name == "internals.py":
            continue  # (the table itself: its uses are names aiortc's and aioice's code uses)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
    named = {e.name for e in TABLE}
    assert sorted((used & PRIVATE) - ours - named) == []


# -- a lab refuses to start on an aiortc or aioice without an entry of the table -----------------
def _replace_init_without(attribute: str):
    stock = aioice.ice.Connection.__init__

    def init(self, *args, **kwargs):
        stock(self, *args, **kwargs)
        delattr(self, attribute)
    return init


def _check_start_without_build_request(self, pair):  # pragma: no cover (never runs)
    raise NotImplementedError


@pytest.mark.parametrize("change, named", [
    (lambda mp: mp.delattr(aioice.ice.Connection, "_check_list_maybe_fail"),
     "aioice.ice.Connection._check_list_maybe_fail is missing"),
    (lambda mp: mp.setattr(aioice.ice.Connection, "__init__", _replace_init_without("_nominated")),
     "a new aioice.ice.Connection has no _nominated"),
    (lambda mp: mp.setattr(aioice.ice.Connection, "build_request", lambda self, pair: None),
     "aioice.ice.Connection.build_request takes (self, pair), not (self, pair, nominate)"),
    (lambda mp: mp.setattr(aioice.ice.Connection, "check_start",
                           _check_start_without_build_request),
     "aioice.ice.Connection.check_start is no longer a coroutine function"),
    (lambda mp: mp.delattr(RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder"),
     "RTCRtpReceiver._RTCRtpReceiver__stop_decoder is missing"),
])
async def test_a_lab_refuses_to_start_naming_what_changed(monkeypatch, change, named):
    tasks_before = asyncio.all_tasks()
    change(monkeypatch)
    with pytest.raises(AiortcChanged) as refused:
        await talklab.Lab()
    said = str(refused.value)
    assert named in said, said
    assert "installed: aiortc 1.16.0, aioice 0.13.0" in said
    assert "tested with aiortc 1.16.0, aioice 0.13.0" in said
    assert isinstance(refused.value, Sentence) and len(refused.value._render_traceback_()) == 1
    # nothing runs: no adjustment installed, no lab current, no task, no thread left behind
    assert not _aiortc.installed() and talklab.Lab.current is None
    assert asyncio.all_tasks() == tasks_before
    assert not [t for t in threading.enumerate() if t.name == "talklab-aiortc-check"]
    with pytest.raises(AiortcChanged):  # (and the next lab is told the same, at once)
        await talklab.Lab()
    monkeypatch.undo()
    internals.forget()
    async with talklab.Lab() as lab:  # the package as it was: a lab starts again
        assert lab.running and _aiortc.installed()
    assert not _aiortc.installed()


def test_a_changed_wrapped_method_is_named():
    async def check_start(self, pair):  # aioice's, if it built its requests some other way
        self.check_state(pair, None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aioice.ice.Connection, "check_start", check_start)
        problems = internals.problems()
    assert problems and problems[0].startswith(
        "aioice.ice.Connection.check_start no longer uses build_request, check_complete, "
        "nominated")


# -- the accessors: never a silent zero ------------------------------------------------------------
def test_an_accessor_on_a_connection_without_the_counter_fails_rather_than_reads_zero():
    class Sender:
        pass

    class Transceiver:
        sender, receiver = Sender(), Sender()

    class Pc:
        def getTransceivers(self):
            return [Transceiver()]
    with pytest.raises(AttributeError):
        access.rtp_packets(Pc())


# -- what is wrapped instead of copied ------------------------------------------------------------
async def _checks_seen(nomination: str) -> tuple[list[bool], str | None, str | None]:
    """Two aioice agents on loopback in a lab's settings: whether each check the controlled one
    received carried USE-CANDIDATE, and the pair each side selected."""
    with _aiortc.running(Settings(nomination=nomination)):
        a, b = Peer(controlling=True), Peer(controlling=False)
        seen: list[bool] = []
        incoming = b.connection.check_incoming

        def record(message, addr, protocol):
            seen.append("USE-CANDIDATE" in message.attributes)
            incoming(message, addr, protocol)
        b.connection.check_incoming = record  # type: ignore[method-assign]
        try:
            with _aiortc.gathering_on("127.10.77.1"):
                da = await a.gather()
            with _aiortc.gathering_on("127.10.77.2"):
                db = await b.gather()
            await asyncio.gather(a.remote(db), b.remote(da))
            oa, ob = await asyncio.gather(a.connect(10), b.connect(10))
        finally:
            await a.close()
            await b.close()
    return seen, oa.local, ob.local


async def test_a_labs_checks_carry_no_use_candidate_and_its_nomination_does():
    seen, chosen_a, chosen_b = await _checks_seen("best")
    assert seen[0] is False and seen[-1] is True, seen  # checked first, then nominated
    assert chosen_a is not None and chosen_a.startswith("host 127.10.77.1:")
    assert chosen_b is not None and chosen_b.startswith("host 127.10.77.2:")
    seen, chosen_a, chosen_b = await _checks_seen("first")  # aioice's own: every check nominates
    assert seen and all(seen), seen
    assert chosen_a is not None and chosen_b is not None


def test_the_decoder_thread_is_made_as_aiortcs_unless_it_is_a_loop_decoder():
    threads = _aiortc.decoding.THREADING
    assert threads.Event is threading.Event and threads.Lock is threading.Lock
    made = threads.Thread(target=lambda *a: None, name="video-decoder",
                          args=(None, queue.Queue(), None, None))
    assert isinstance(made, threading.Thread)
    decoder = _aiortc.decoding.LoopDecoder()
    output, error = asyncio.Queue(), threading.Event()
    made = threads.Thread(target=aiortc.rtcrtpreceiver.decoder_worker, name="audio-decoder",
                          args=(None, decoder, output, error))
    assert made is decoder and decoder._output is output and decoder._error is error
    decoder.put(None)
    assert output.get_nowait() is None


async def test_a_lab_receiver_of_audio_only_has_the_loop_decoder():
    """The receiver's own receive() made the thread: for a lab's audio it is the LoopDecoder,
    and while labs run, code outside them (decoding="thread") still gets aiortc's thread."""
    async with talklab.Lab() as lab:
        assert aiortc.rtcrtpreceiver.threading is _aiortc.decoding.THREADING
        alice = await lab.join("Alice", voice=True)
        bob = await lab.join("Bob", voice=True)
        await lab.wait_connected()
        await alice.wait_heard()
        receiver = next(iter(bob.links.values())).pc.getReceivers()[0]
        assert isinstance(receiver._RTCRtpReceiver__decoder_thread,
                          _aiortc.decoding.LoopDecoder)
        assert receiver._RTCRtpReceiver__decoder_queue is \
            receiver._RTCRtpReceiver__decoder_thread
    assert aiortc.rtcrtpreceiver.threading is threading
