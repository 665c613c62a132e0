"""A class, the teacher's half: every student's kernel is a person in the teacher's room.

* :mod:`.teacher` — :class:`Classroom`: the teacher's signaling, STUN and TURN servers on an
  address the teacher names, time-limited TURN credentials, a token, locks;
* :mod:`.dashboard` — the teacher's view of the class.

The student's half is elsewhere, where it is used: ``Lab(server=URL)``, a student's lab that
joins the teacher's server (:mod:`talklab.lab.student`), and how a student's people tell the
dashboard what their calls are doing (:mod:`talklab.browser.report`).

``python -m talklab.classroom --host ADDRESS --network CIDR`` (``talklab-classroom``) runs a
classroom from a terminal.

Tested in tests/test_classroom.py (which imports Classroom, DashboardView and fetch_dashboard from
here, as a teacher's notebook does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {"DashboardView": ".dashboard", "fetch_dashboard": ".dashboard",
            "CREDENTIAL_TTL": ".teacher", "Classroom": ".teacher"}

if TYPE_CHECKING:
    from talklab.classroom.dashboard import DashboardView, fetch_dashboard
    from talklab.classroom.teacher import CREDENTIAL_TTL, Classroom


def __getattr__(name: str) -> Any:  # PEP 562: `import talklab.classroom` starts nothing
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CREDENTIAL_TTL", "Classroom", "DashboardView", "fetch_dashboard"]
