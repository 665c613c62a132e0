"""The course's rule for a cell that reports on a room (``talklab.check.stale``), and talklab's
errors in a notebook (``talklab.notebook``): a stale, closed or empty lab is said so in one
sentence that names the cell to run, by the line the learner can find on the page."""

from __future__ import annotations

import ast
import linecache
import types

import pytest

import talklab
from talklab import check
from talklab.check.stale import NotReady
from talklab.notebook import Sentence, is_cell
from talklab.views import LinkStatsView

CELL = "/tmp/ipykernel_4242/{n}.py"  # where ipykernel keeps a cell's code


async def run_cell(source: str, namespace: dict, n: int) -> None:
    """Run ``source`` as a notebook cell would run (its own file name, top-level await)."""
    filename = CELL.format(n=n)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if isinstance(result, types.CoroutineType):
        await result


def test_a_cells_code_is_told_from_a_modules():
    assert is_cell("/tmp/ipykernel_123/4567.py") and is_cell("<ipython-input-3-abc>")
    assert not is_cell(talklab.__file__)


def test_talklabs_refusals_read_as_one_sentence_in_a_notebook():
    error = NotReady("the lab is closed: run the cell with `lab = await talklab.Lab()`.")
    assert isinstance(error, Sentence)
    (line,) = error._render_traceback_()
    assert "NotReady" in line and "run the cell with" in line


def test_an_interrupt_is_described_by_the_newest_lab_and_by_a_microphone_only_alone(
        monkeypatch):
    from talklab import notebook

    class Shell:  # what on_interrupt uses of IPython's shell
        CustomTB, custom_exceptions = None, ()
        events = types.SimpleNamespace(register=lambda *_: None, unregister=lambda *_: None)

        def set_custom_exc(self, exceptions, handler):
            self.custom_exceptions = exceptions
    monkeypatch.setattr(notebook, "_describers", [])
    monkeypatch.setattr(notebook, "_previous", None)
    monkeypatch.setattr(notebook, "_shell", Shell)
    quiet_lab = notebook.on_interrupt(lambda: "the lab is running.")
    quiet_mic = notebook.on_interrupt(lambda: "your microphone is unchanged.", last=True)
    assert notebook.interrupted_text().endswith("the lab is running.")  # made first, says first
    quiet_lab()
    assert notebook.interrupted_text().endswith("your microphone is unchanged.")
    quiet_mic()
    assert notebook.interrupted_text().endswith("may be missing).")


async def test_a_replaced_lab_a_closed_lab_and_an_empty_one_each_say_which_cell_to_run():
    ns: dict = {"talklab": talklab, "check": check}
    await run_cell("# the lab and its people\nlab = await talklab.Lab()", ns, 1)
    await run_cell("alice = await lab.join('Alice', voice=True)\n"
                   "bob = await lab.join('Bob', voice=True)\nawait lab.wait_connected()", ns, 2)
    await run_cell("view = talklab.views.LinkStatsView(lab)", ns, 3)
    check.ready(ns["lab"], ns["alice"], ns["bob"], voice=True)  # all there: goes on

    old = ns["lab"]
    await run_cell("# the lab and its people\nlab = await talklab.Lab()", ns, 4)  # re-run
    try:
        assert not old.running
        with pytest.raises(NotReady) as empty:  # the new lab: nobody in it yet
            check.ready(ns["lab"])
        assert "nobody is in this lab yet" in str(empty.value)
        assert "“the lab and its people”" in str(empty.value)
        assert "`alice = await lab.join('Alice', voice=True)`" in str(empty.value)
        with pytest.raises(NotReady) as gone:  # Alice belonged to the replaced lab
            await run_cell("bob = await lab.join('Bob', voice=True)", ns, 5)
            check.ready(ns["lab"], ns["alice"])
        assert "Alice is gone (their lab was replaced by a newer one)" in str(gone.value)
        assert "`alice = await lab.join('Alice', voice=True)`" in str(gone.value)
        assert str(gone.value).endswith("Then run this cell again.")
        view = ns["view"]
        assert view.closed
        with pytest.raises(NotReady, match="this live table follows a lab that was replaced"):
            check.ready(ns["lab"], view)
    except BaseException:
        await ns["lab"].close()
        raise
    await run_cell("await lab.close()", ns, 6)
    with pytest.raises(NotReady) as closed:
        check.ready(ns["lab"], ns["bob"])
    assert "the lab is closed" in str(closed.value) and "`await lab.close()`" in str(closed.value)
    assert "`lab = await talklab.Lab()`" in str(closed.value)


async def test_a_person_out_of_voice_and_something_that_is_no_lab_are_refused():
    with pytest.raises(NotReady, match="got NoneType"):
        check.ready(None)
    async with talklab.Lab() as lab:
        carol = await lab.join("Carol")
        with pytest.raises(NotReady, match="Carol is not in voice"):
            check.ready(lab, carol, voice=True)
        check.ready(lab, carol)
        view = LinkStatsView(lab)
        check.ready(lab, view, [carol])



async def test_a_bare_client_whose_server_went_with_its_lab_is_said_so():
    from talklab import SignalingClient
    from talklab.browser.signaling import Disconnected
    async with talklab.Lab() as lab:
        alice = await SignalingClient("Alice").connect(lab.url)
        check.ready(lab, alice)
    with pytest.raises(Disconnected, match="Alice is not connected"):
        await alice.emit("joinVoice", {"room": "ABCD12"})
    async with talklab.Lab() as lab:
        await lab.join("Bob")
        with pytest.raises(NotReady, match="Alice's connection to the signaling server is "
                                           "closed"):
            check.ready(lab, alice)


async def test_a_lab_without_the_server_a_cell_needs_names_the_cell_that_made_one():
    ns: dict = {"talklab": talklab}
    await run_cell("lab = await talklab.Lab(turn=True)", ns, 7)
    await run_cell("lab = await talklab.Lab()", ns, 8)
    try:
        with pytest.raises(NotReady) as missing:
            check.ready(ns["lab"], turn=True)
        assert "this lab has no TURN server" in str(missing.value)
        assert "`lab = await talklab.Lab(turn=True)`" in str(missing.value)
    finally:
        await ns["lab"].close()


async def test_a_lab_with_a_server_the_cell_wants_without_names_the_cell_that_made_none():
    """walk2 11-6: 12's cells about a class without TURN ran on the TURN classroom, and the
    prediction about it was told it was wrong."""
    ns: dict = {"talklab": talklab}
    await run_cell("lab = await talklab.Lab()", ns, 9)
    await run_cell("lab = await talklab.Lab(turn=True)", ns, 10)
    try:
        with pytest.raises(NotReady) as extra:
            check.ready(ns["lab"], turn=False)
        assert "this lab has a TURN server" in str(extra.value)
        assert "`lab = await talklab.Lab()`" in str(extra.value)
        check.ready(ns["lab"], turn=True)  # (and with TURN wanted, it passes)
    finally:
        await ns["lab"].close()
