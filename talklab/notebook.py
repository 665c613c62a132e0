"""talklab inside a notebook kernel: which cell made what, and errors that read as one sentence.

A learner who re-runs one cell, or runs cells out of order, needs to be told what to run next by
something they can find on the page. A cell has no stable number (the number changes each time
it runs), so talklab names it by what it says: the line of the cell that made the lab or the
person (:func:`made_by`, read from the running cell's own source), with the cell's first comment
line when it opens with one.

talklab's own refusals (a lab that was closed, a person who is gone, a room not ready to report
on) are :class:`Sentence` errors: IPython shows their message alone, not a traceback into
asyncio and talklab. And while a lab runs, Interrupt Kernel shows one sentence too
(:func:`on_interrupt`): what stopped, that the lab is still usable, and what to run next.

Nothing here happens at import: every function does nothing outside IPython.

Tested in tests/test_ready.py (a cell's code told from a module's; talklab's refusals read as one
sentence) and tests/test_interrupt.py (Interrupt Kernel in real kernels: one sentence, and the
kernel goes on).
"""

from __future__ import annotations

import asyncio
import io
import linecache
import re
import sys
import tokenize
from collections.abc import Callable
from typing import Any

# how IPython names a cell's code: ipykernel's /tmp/ipykernel_<pid>/<hash>.py, the terminal's
# <ipython-input-N-...>
_CELL = re.compile(r"(?:^|[\\/])ipykernel_\d+[\\/]|^<ipython-input-")


def is_cell(filename: str) -> bool:
    """Is ``filename`` the code of a notebook cell (rather than a module's)?"""
    return bool(_CELL.search(filename))


def made_by(depth: int = 40) -> str | None:
    """The cell that is calling into talklab right now, as a learner can find it on the page:
    ```the line that made it``` (with the cell's first comment line, when it starts with one),
    or None outside a notebook."""
    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return None
        filename = frame.f_code.co_filename
        if is_cell(filename):
            line = _code(linecache.getline(filename, frame.f_lineno))
            first = linecache.getline(filename, 1).strip()
            name = f"`{line}`" if line else "the cell that made it"
            if first.startswith("#") and first != line:
                name = f"“{first.lstrip('# ').strip()}” ({name})"
            return name
        frame = frame.f_back
    return None


# what the notebook's cells have made, by kind ("a lab with turn"): the line of the last cell
# that made one, so that a refusal can name it even after that thing is gone
_made: dict[str, str] = {}


def note_made(kind: str, line: str | None) -> None:
    if line:
        _made[kind] = line


def where_made(kind: str) -> str | None:
    """The line of the last cell that made a ``kind`` of thing in this kernel, if any."""
    return _made.get(kind)


def _code(line: str) -> str:
    """A line of code without its comment (``x = 1   # a note`` -> ``x = 1``)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return line.strip()
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    return (line[:comment.start[1]] if comment else line).strip()


class Sentence(Exception):
    """An error that explains itself in one sentence: in a notebook, IPython shows the message
    alone (``_render_traceback_``), not the frames of talklab's code it was raised from."""

    def _render_traceback_(self) -> list[str]:
        said = self.args[0] if len(self.args) == 1 else str(self)  # (a KeyError quotes str())
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {said}"]


# -- Interrupt Kernel, while a lab runs ---------------------------------------------------------
_describers: list[Callable[[], str]] = []
_previous: tuple[Any, Any] | None = None  # IPython's (CustomTB, custom_exceptions) before ours


def _shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython
    return get_ipython()


def interrupted_text() -> str:
    """What an interrupted cell says: the newest running lab describes itself and names the
    cell that makes it; with no lab left running (a check's own lab closes as the cell
    unwinds), only what to run next."""
    state = ""
    for describe in reversed(_describers):  # the newest that has something to say
        try:
            state = describe()
        except Exception:  # (a description must never hide the interrupt itself)
            state = ""
        if state:
            break
    return ("Interrupted: this cell stopped where it was. "
            + (state or "Run it again before the next (it did not finish: what it was making "
                        "may be missing)."))


def _handler(shell: Any, etype: Any, value: Any, tb: Any, tb_offset: Any = None) -> list[str]:
    lines = [f"\x1b[0;33mKeyboardInterrupt\x1b[0m: {interrupted_text()}"]
    shell._showtraceback(etype, value, lines)
    return lines


def on_interrupt(describe: Callable[[], str], last: bool = False) -> Callable[[], None]:
    """While it is installed (until the returned function is called), Interrupt Kernel in a
    cell shows one sentence, from ``describe()`` (the lab says how it is), instead of a
    traceback through asyncio. Outside IPython it does nothing. The newest describer with
    something to say speaks; one installed ``last`` speaks only when no other has anything to
    say (a microphone, beside a lab).

    The last removal takes effect when the running cell ends: an interrupt cancels the cell,
    the labs it was running close as it unwinds, and only then does IPython show the error,
    which must still read as one sentence."""
    global _previous
    shell = _shell()
    if shell is None:
        return lambda: None
    if _previous is None:
        _previous = (shell.CustomTB, shell.custom_exceptions)
        shell.set_custom_exc((KeyboardInterrupt, asyncio.CancelledError), _handler)
        shell.events.register("post_run_cell", _restore_when_unused)
    if last:
        _describers.insert(0, describe)
    else:
        _describers.append(describe)
    removed = False

    def remove() -> None:
        nonlocal removed
        if not removed:
            removed = True
            if describe in _describers:
                _describers.remove(describe)
    return remove


def _restore_when_unused(*_: Any) -> None:
    """After a cell: if no lab needs the sentence any more, give IPython its own back."""
    global _previous
    shell = _shell()
    if _describers or _previous is None or shell is None:
        return
    shell.CustomTB, shell.custom_exceptions = _previous
    _previous = None
    shell.events.unregister("post_run_cell", _restore_when_unused)
