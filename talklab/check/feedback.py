"""Self-checks that check understanding: a question, the learner's answer, and feedback.

How a check answers, and why:

* **right**: says so, and adds one line of *why*, so a lucky guess still teaches;
* **not yet**: a hint that leads to the reasoning, never the expected value (a learner who is
  told "15, not 30" learns to copy, not to count);
* **wrong type**: says what kind of answer the question takes (``4``, not the text ``"4"``;
  ``True``, not ``"True"``), without judging the value;
* **pending**: the answer is still ``None``: nothing is judged, and nothing is given away;
* **unmeasured**: a prediction waits for its live cell, which has not run to its end.

The answer itself is shown only when asked for, with :func:`reveal`. Every check returns a
:class:`Feedback`; none raises, so a notebook whose exercises are not done yet still runs
top to bottom ("not yet" is an answer, not an error).

Tested in tests/test_check.py (every self-check judges, hints and reveals; predictions compared;
names judged letter for letter).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

RIGHT, NOT_YET, WRONG_TYPE, PENDING, UNMEASURED, ANSWER, PREDICTED = (
    "right", "not yet", "wrong type", "pending", "unmeasured", "answer", "predicted")
STYLE = {RIGHT: ("✔ right", "#047857"), NOT_YET: ("✘ not yet", "#b91c1c"),
         WRONG_TYPE: ("✘ not yet", "#b45309"), PENDING: ("… waiting for your answer", "#4b5563"),
         UNMEASURED: ("… not measured yet", "#4b5563"),
         ANSWER: ("answer", "#1d4ed8"), PREDICTED: ("prediction vs what happened", "#6d28d9")}
PENDING_MESSAGE = "replace None with your answer, then run the cell again."
CASE_HINT = ("the right name, but not letter for letter: a browser compares these names "
             "exactly, capitals and spaces included. Look at how the notebook writes it.")


@dataclass(frozen=True)
class Feedback:
    """What a check says. True only when right."""

    verdict: str
    message: str

    def __bool__(self) -> bool:
        return self.verdict == RIGHT

    @property
    def ok(self) -> bool:
        return bool(self)

    def _repr_html_(self) -> str:
        mark, colour = STYLE.get(self.verdict, ("", "#374151"))
        return (f"<div style='border-left:4px solid {colour};padding:.25em .7em;"
                f"margin:.2em 0'><b style='color:{colour}'>{mark}</b> — "
                f"{html.escape(self.message)}</div>")

    def __repr__(self) -> str:
        return f"{STYLE.get(self.verdict, (self.verdict,))[0]}: {self.message}"


# -- what kind of answer a question takes ---------------------------------------------------------
class Kind:
    """Checks the *type* of an answer before its value is judged."""

    example = "an answer"

    def accepts(self, answer: Any) -> bool:
        raise NotImplementedError

    def normal(self, answer: Any) -> Any:
        return answer

    def same(self, answer: Any, expected: Any) -> bool:
        """Is ``answer`` the expected one, as this kind compares (a number: within its
        tolerance)?"""
        return bool(self.normal(answer) == self.normal(expected))

    def refusal(self, answer: Any) -> str:
        got = f"the text {answer!r}" if isinstance(answer, str) else \
            f"{type(answer).__name__} {answer!r}"
        return f"this question takes {self.example}; you gave {got}."


class Whole(Kind):
    """A whole number, such as ``6`` (not ``"6"``, not ``6.0``, not ``True``)."""

    example = "a whole number, such as 4 (no quotes)"

    def accepts(self, answer: Any) -> bool:
        return isinstance(answer, int) and not isinstance(answer, bool)


class Number(Kind):
    """A number (int or float), compared within ``tolerance``."""

    example = "a number, such as 0.25 (no quotes)"

    def __init__(self, tolerance: float = 0.0) -> None:
        self.tolerance = tolerance

    def accepts(self, answer: Any) -> bool:
        return isinstance(answer, (int, float)) and not isinstance(answer, bool)

    def same(self, answer: Any, expected: Any) -> bool:
        return bool(abs(answer - expected) <= self.tolerance)


class YesNo(Kind):
    """``True`` or ``False`` (the Python values, not the words in quotes)."""

    example = "True or False (without quotes)"

    def accepts(self, answer: Any) -> bool:
        return isinstance(answer, bool)


class OneOf(Kind):
    """One of a few names, as text; a class counts by its name. Case does not matter, unless
    ``exact``: an error's or an event's name is compared letter for letter by a browser
    (``error.name === "OverconstrainedError"``), so there a wrong capital or a space around
    it is not yet right, and is said so."""

    def __init__(self, choices: Sequence[str], exact: bool = False) -> None:
        self.choices = list(choices)
        self.exact = exact
        self.example = "one of " + ", ".join(repr(c) for c in self.choices)

    def normal(self, answer: Any) -> Any:
        if isinstance(answer, type):
            answer = answer.__name__
        if not isinstance(answer, str):
            return answer
        return answer if self.exact else answer.strip().lower()

    def accepts(self, answer: Any) -> bool:
        normal = self.normal(answer)  # (a list or a dict is not a choice, and cannot be hashed)
        return isinstance(normal, str) and \
            normal.strip().lower() in {c.lower() for c in self.choices}

    def refusal(self, answer: Any) -> str:
        if isinstance(answer, type):
            return (f"this question takes {self.example}, as text; you gave the class "
                    f"{answer.__name__} itself: put its name in quotes.")
        return super().refusal(answer)

    def miscased(self, answer: Any, expected: Any) -> bool:
        """Right but for capital letters or spaces around it (where those matter)."""
        given, wanted = self.normal(answer), self.normal(expected)
        return (self.exact and isinstance(given, str) and isinstance(wanted, str)
                and given != wanted and given.strip().lower() == wanted.strip().lower())


# -- questions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """What a question's author writes for given parameters."""

    expected: Any
    why: str  # shown when right, and with the answer
    hint: str | Callable[[Any], str]  # shown when wrong; may look at the wrong answer


class Question:
    """A self-check: ``question(**params, answer=...)`` judges, ``question.reveal(**params)``
    shows the answer. Made with the :func:`question` decorator."""

    def __init__(self, spec: Callable[..., Spec], kind: Kind) -> None:
        self.spec, self.kind = spec, kind
        self.__name__ = spec.__name__
        self.__doc__ = spec.__doc__

    def __call__(self, *args: Any, answer: Any = None, **params: Any) -> Feedback:
        if answer is None:
            return Feedback(PENDING, PENDING_MESSAGE)
        if not self.kind.accepts(answer):
            return Feedback(WRONG_TYPE, self.kind.refusal(answer))
        spec = self.spec(*args, **params)
        if self.kind.same(answer, spec.expected):
            return Feedback(RIGHT, spec.why)
        if isinstance(self.kind, OneOf) and self.kind.miscased(answer, spec.expected):
            return Feedback(NOT_YET, CASE_HINT)
        given = self.kind.normal(answer)
        hint = spec.hint(given) if callable(spec.hint) else spec.hint
        return Feedback(NOT_YET, hint)

    def reveal(self, *args: Any, **params: Any) -> Feedback:
        spec = self.spec(*args, **params)
        shown = spec.expected.__name__ if isinstance(spec.expected, type) else spec.expected
        return Feedback(ANSWER, f"{shown!r}: {spec.why}")

    def __repr__(self) -> str:
        return f"<self-check {self.__name__}: {(self.__doc__ or '').strip().splitlines()[0]}>"


def question(kind: Kind) -> Callable[[Callable[..., Spec]], Question]:
    """Turn a function ``(**params) -> Spec`` into a :class:`Question`."""
    return lambda spec: Question(spec, kind)


def reveal(check: Any, *args: Any, **params: Any) -> Feedback:
    """The answer to a self-check, with its reasoning: only when you ask for it."""
    if not hasattr(check, "reveal"):
        return Feedback(NOT_YET, f"{check!r} is not a self-check; pass one, e.g. "
                        "check.reveal(check.mesh_links, n=5)")
    result: Feedback = check.reveal(*args, **params)
    return result


# -- predictions --------------------------------------------------------------------------------
def compare(prediction: Any, happened: Any, *, about: str, why: str = "",
            kind: Kind | None = None) -> Feedback:
    """Set your prediction beside what the live cell measured.

    ``prediction`` is what you wrote down before running the cell (``None``: you did not);
    ``happened`` is the measurement; ``why`` explains the result either way (it is shown after
    the fact, so it may name the value)."""
    if happened is None:
        return Feedback(UNMEASURED, f"nothing to compare with yet: {about} is measured once "
                        "the live cell above has run to the end.")
    if prediction is None:
        return Feedback(PENDING, f"you did not predict {about}. Write your guess in the "
                        "prediction cell above, then run it and this one again: it is the "
                        f"guess that makes the measurement teach. (What happened: "
                        f"{shown(happened)}.)")
    if kind is not None and not kind.accepts(prediction):
        return Feedback(WRONG_TYPE, kind.refusal(prediction))
    same = kind.same(prediction, happened) if kind else prediction == happened
    verdict = "as you predicted" if same else "not what you predicted"
    if not same and isinstance(kind, OneOf) and kind.miscased(prediction, happened):
        verdict += (" (the right name, but not letter for letter: a browser compares it "
                    "exactly, capitals and spaces included)")
    why = why[:1].upper() + why[1:]  # (a sentence of its own)
    return Feedback(PREDICTED, f"{about}: you predicted {shown(prediction)}, and it was "
                    f"{shown(happened)}: {verdict}. {why}".strip())


def shown(value: Any) -> str:
    """A value as a learner reads it: a class by its name, text in quotes, a number as is."""
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)
