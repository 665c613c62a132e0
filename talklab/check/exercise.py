"""Code exercises: the learner writes a small piece of the real system, talklab runs it live.

An exercise hands the learner's function to real machinery (a person in a live room, a server
handler, a NAT that filters real packets) and judges what *happened*, not the code's text. The
learner's stub raises ``NotImplementedError``; run unfilled, the exercise says "not yet" with a
hint, so a notebook still runs top to bottom. An exception from the learner's code is reported
with where it happened, never raised into the notebook; a hang is cut off after a bound.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from .feedback import NOT_YET, Feedback

STUB = "still the stub: replace the `raise NotImplementedError` with your code, then run again."


def where(exc: BaseException) -> str:
    """The last line of the learner's own code in a traceback ("line 3, in my_handler")."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "talklab" not in f.filename.replace("\\", "/").split("/")
              and "site-packages" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (line {frame.lineno}, in {frame.name}: `{(frame.line or '').strip()}`)"


async def run(function: Any, live: Callable[[Any], Awaitable[Feedback]], *, name: str,
              timeout: float = 20.0) -> Feedback:
    """Run ``live(function)`` and turn whatever goes wrong into feedback."""
    if function is None:
        return Feedback(NOT_YET, f"pass your {name} function to the check.")
    if not callable(function):
        return Feedback(NOT_YET, f"the check takes your {name} *function* (without calling "
                        f"it: no parentheses), not {type(function).__name__} {function!r}.")
    try:
        return await asyncio.wait_for(live(function), timeout)
    except NotImplementedError:
        return Feedback(NOT_YET, STUB)
    except TimeoutError:
        return Feedback(NOT_YET, f"your {name} did not finish within {timeout:.0f} s: does "
                        "it wait for something that never comes (an `await` on a reply that "
                        "is not sent)?")
    except Exception as exc:
        return Feedback(NOT_YET, f"your {name} raised {type(exc).__name__}: {exc}{where(exc)}")


async def call(function: Callable[..., Any], *args: Any) -> Any:
    """Call the learner's function, awaiting it if it is ``async`` (both are accepted)."""
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
