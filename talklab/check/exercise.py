"""Code exercises: the learner writes a small piece of the real system, talklab runs it live.

An exercise hands the learner's function to real machinery (a person in a live room, a server
handler, a NAT that filters real packets) and judges what *happened*, not the code's text. The
learner's stub raises ``NotImplementedError``; run unfilled, the exercise says "not yet" with a
hint, so a notebook still runs top to bottom. An exception from the learner's code is reported
with where it happened, never raised into the notebook; a hang is cut off after a bound.

Tested in tests/test_check.py (the errors a learner meets, explained toward the reasoning; a
hint for the learner's own line only) and every tests/test_exercises_01.py to
tests/test_exercises_12.py (each exercise run live through it, with the answer key and the
stub).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
import sysconfig
import traceback
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from talklab.check.feedback import NOT_YET, Feedback
from talklab.notebook import on_interrupt
from talklab.tasks import within

STUB = "still the stub: replace the `raise NotImplementedError` with your code, then run again."


STDLIB = sysconfig.get_paths()["stdlib"]


def where(exc: BaseException) -> str:
    """The last line of the learner's own code in a traceback ("line 3, in my_handler"): not
    talklab's, a library's or Python's own (04 named "line 54, in ip_address", in the
    standard library, as where a learner's slice went wrong)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _learners(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (line {frame.lineno}, in {frame.name}: `{(frame.line or '').strip()}`)"


async def run(function: Any, live: Callable[[Any], Awaitable[Feedback]], *, name: str,
              timeout: float = 20.0) -> Feedback:
    """Run ``live(function)`` and turn whatever goes wrong into feedback. A coroutine the
    learner called without ``await`` (it never ran: Python only warns, on stderr) is said so."""
    if function is None:
        return Feedback(NOT_YET, f"pass your {name} function to the check.")
    if not callable(function):
        return Feedback(NOT_YET, f"the check takes your {name} *function* (without calling "
                        f"it: no parentheses), not {type(function).__name__} {function!r}.")
    quiet = on_interrupt(lambda: "")  # Interrupt in a check: one sentence, lab or none
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            said = await _run(function, live, name, timeout)
            gc.collect()  # (a coroutine dropped in a cycle warns only when collected)
    finally:
        quiet()
    forgotten = unawaited(caught)
    own = getattr(function, "__qualname__", None)
    if forgotten and forgotten[0] == own:
        return Feedback(NOT_YET, f"your {name} is written `async def`, but talklab calls it as "
                        "a plain function and uses what it returns at once: an `async def` "
                        "returns a coroutine, not its result. Does it wait for anything?")
    if forgotten:
        return Feedback(NOT_YET, f"your {name} called `{forgotten[0]}(...)` without `await`: "
                        "it is a coroutine, which does nothing until it is awaited "
                        f"(`await {forgotten[0].split('.')[-1]}(...)` where you call it).")
    return said


def in_learners_code(exc: BaseException) -> bool:
    """Was ``exc`` raised by the learner's own line (not inside talklab or a library it
    called)? A hint about how to read a payload is for a mistake the learner made there."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and _learners(frames[-1].filename)


def _raised_in(exc: BaseException, package: str) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and package in frames[-1].filename.replace("\\", "/").split("/")


def _learners(filename: str) -> bool:
    parts = filename.replace("\\", "/").split("/")
    return ("talklab" not in parts and "site-packages" not in parts and "aiortc" not in parts
            and not filename.startswith(STDLIB))


def explain(error: BaseException | str) -> str:
    """A sentence toward the reasoning after an error that the learner's code raised, for the
    kinds a learner meets here; "" for others. (The error itself is shown too: it says
    where; this says what it means here.) A hint about reading a payload is given only when
    the learner's own line raised it: an error from inside talklab says what it needs itself."""
    own, error_obj = True, error
    if isinstance(error, BaseException):
        own = in_learners_code(error)
        error = f"{type(error).__name__}: {error}"
    kind, _, message = error.partition(": ")
    field = re.match(r"'dict' object has no attribute '(\w+)'", message)
    if kind == "AttributeError" and field and not own and isinstance(error_obj, BaseException) \
            and _raised_in(error_obj, "aiortc"):
        return (" A browser's pc.setRemoteDescription / pc.addIceCandidate accept the dicts the "
                "server relays; aiortc's own take its objects (RTCSessionDescription, "
                "RTCIceCandidate). talklab's link.set_remote(...) and link.add_ice_candidate(...) "
                "take the dicts.")
    if kind in ("AttributeError", "KeyError") and not own:
        return ""  # raised inside talklab or a library: its message says what it needs
    if kind == "AttributeError" and field:
        return (f" The seed's payloads arrive as plain dicts (JSON objects): a field is read "
                f"with data[\"{field.group(1)}\"], not data.{field.group(1)}.")
    if kind == "ValueError" and "does not appear to be an IPv4 or IPv6 address" in message:
        return (" The bytes given to ipaddress were not the four of an address: count again "
                "where each field starts in the value (it begins after the attribute's "
                "type-and-length header, with the reserved byte).")
    if kind == "KeyError":
        return (f" The payload has no key {message}: look at what the seed's event carries "
                "(its step in the seed names each field), and print(data) inside your handler "
                "to see what arrived.")
    if kind == "InvalidStateError":
        return (" A browser refuses the same: it says what that connection has done so far. "
                "Is it the connection your handler meant, and has the description it needs "
                "been applied to it yet?")
    return ""


def unawaited(caught: list[warnings.WarningMessage]) -> list[str]:
    """The coroutines that Python warned were never awaited (their qualified names)."""
    names = []
    for warning in caught:
        found = re.match(r"coroutine '([\w.<>]+)' was never awaited", str(warning.message))
        if found:
            names.append(found.group(1))
    return names


async def _run(function: Any, live: Callable[[Any], Awaitable[Feedback]], name: str,
               timeout: float) -> Feedback:
    try:
        return await within(live(function), timeout)
    except NotImplementedError:
        return Feedback(NOT_YET, STUB)
    except TimeoutError:
        return Feedback(NOT_YET, f"your {name} did not finish within {timeout:.0f} s: does "
                        "it wait for something that never comes (an `await` on a reply that "
                        "is not sent)?")
    except Exception as exc:
        return Feedback(NOT_YET, f"your {name} raised {type(exc).__name__}: {exc}{where(exc)}."
                        + explain(exc))


async def call(function: Callable[..., Any], *args: Any) -> Any:
    """Call the learner's function, awaiting it if it is ``async`` (both are accepted)."""
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class LiveRoom:
    """A live room for one exercise: its lab, its people, and what went wrong (an error the
    learner's handler raised, a message the server refused)."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.people: list[Any] = []
        self.errors: list[str] = []
        self.refused: list[str] = []
        self.timed_out = ""  # what wait_connected said when it gave up
        # descriptions sent before they were set locally: (who sent what to whom, the link)
        self.sent_unset: list[tuple[str, Any]] = []
        lab.events.subscribe(self._on_event)
        self._stop = asyncio.Event()

    def _on_event(self, event: Any) -> None:
        if event.kind == "handler-error":
            self.errors.append(f"{event.data['error']} (in {event.data['person']}'s browser)."
                               + explain(event.data.get("exception") or event.data["error"]))
            self._stop.set()
        elif event.kind == "description-sent" and not event.data["set_first"]:
            self.sent_unset.append((f"{event.data['person']} sent their "
                                    f"{event.data['description']} to {event.data['remote']}",
                                    event.data["link"]))
        elif event.kind == "signaling-error":
            self.refused.append(f"the server refused {event.data.get('person')}'s "
                                f"{event.data.get('event')}: {event.data.get('message')}. "
                                "It relays {\"offer\" (or \"answer\"): {\"type\", \"sdp\"}, "
                                "\"to\": a socket id} and nothing else")
            self._stop.set()

    async def settle(self, wait: float) -> bool:
        """Wait until every call carries audio (True), or something went wrong, or time ran
        out (False)."""
        connected = asyncio.ensure_future(self.lab.wait_connected(wait))
        stopped = asyncio.ensure_future(self._stop.wait())
        done, pending = await asyncio.wait({connected, stopped},
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if connected in done and connected.exception() is not None:
            self.timed_out = str(connected.exception())
        return connected in done and connected.exception() is None

    def problem(self, stub_hint: str) -> str | None:
        """What went wrong: the stub (with ``stub_hint``), an error the handler raised, or a
        message the server refused."""
        if any(error.startswith("NotImplementedError") for error in self.errors):
            return STUB + " " + stub_hint
        if self.errors:
            return f"your handler raised {self.errors[0]}"
        if self.refused:
            return self.refused[0] + "."
        return None

    def unset_description(self, order: str) -> str | None:
        """What to say of a description sent before it was set: never set at all (the step
        is missing), or set after it left (``order``: why the seed's order matters)."""
        if not self.sent_unset:
            return None
        what, link = self.sent_unset[0]
        if link.pc.localDescription is None:
            return (f"{what} without ever setting it as its own: which step of the seed's "
                    "handler makes a description this connection's local one, the one its "
                    "ICE agent gathers for?")
        return f"{what} before setting it with `await link.set_local(...)`. {order}"

    def relayed(self, event: str, to: Any) -> Counter[str]:
        """How many ``event`` messages the server relayed to ``to``, by sender."""
        names = {p.sid: p.name for p in self.lab.people.values()}
        return Counter(names.get(e.peer, "someone else") for e in self.lab.trace
                       if e.event == event and e.to == to.sid and e.from_ == "server")

    def unheard(self, people: list[Any] | None = None) -> list[str]:
        """Who (of ``people``, else all of the room's) does not hear whom at their tone
        (within 2 Hz)."""
        people = self.people if people is None else people
        missing = []
        for listener in people:
            heard = listener.hears()
            for speaker in people:
                if speaker is listener:
                    continue
                hz = heard.get(speaker.name)
                if hz is None or abs(hz - (speaker.tone_hz or 0)) > 2:
                    missing.append(f"{listener.name} does not hear {speaker.name}")
        return missing
