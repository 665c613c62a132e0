"""Notebook 05's questions and code exercises (see :mod:`talklab.check.feedback` and
:mod:`talklab.check.exercise`)."""

from __future__ import annotations

__all__: list[str] = []
