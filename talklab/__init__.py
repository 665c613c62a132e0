"""talklab: take apart a WebRTC voice room, live, inside a notebook.

The seed's five systems, each a module you can open:

* Step 1, getUserMedia: :mod:`talklab.browser.media` (and :mod:`talklab.browser.encoding`)
* Steps 2-7, the signaling server: :mod:`talklab.server` (the ``server/`` folder)
* the seed's browser, one per person: :mod:`talklab.browser.person` (and its links,
  :mod:`talklab.browser.link`)
* Step 8, ICE: :mod:`talklab.ice`, with :mod:`talklab.stun`, :mod:`talklab.turn` and the
  simulated network :mod:`talklab.nat`
* Step 9, what each person hears: :mod:`talklab.browser.hearing`

:class:`talklab.Lab` puts them together; :class:`talklab.Classroom` is a teacher's servers for a
class, which students' labs join by URL (``Lab(server=...)``, :mod:`talklab.classroom`).

Importing ``talklab`` loads nothing heavy and changes nothing: each name below is imported the
first time it is used (PEP 562), so ``import talklab.server`` (the signaling server alone)
never loads aiortc, PyAV, numpy or matplotlib. talklab's adjustments to aiortc and aioice
(:mod:`talklab._aiortc`) apply only while a :class:`Lab` runs.

Tested in tests/test_aiortc_adjustments.py (importing talklab, or talklab.server, loads no media
stack and changes nothing in aioice) and by every test that reaches a name through it, as a
learner does (tests/test_readme.py runs the README's examples).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# name -> the module (relative to this package) that defines it
_EXPORTS = {
    "DEFAULT_ROOM": ".lab.lab", "Lab": ".lab.lab",
    "Event": ".events", "EventBus": ".events",
    "Ear": ".browser.hearing", "dominant_frequency": ".browser.hearing",
    "level_dbfs": ".browser.hearing",
    "LabClosed": ".lab.lab",
    "nat_matrix": ".lab.matrix",
    **{name: ".browser.media" for name in (
        "FileVoice", "FrameVoice", "MediaError", "MediaStream", "NotAllowedError",
        "NotFoundError", "OverconstrainedError", "SyntheticVoice", "enumerate_devices",
        "get_user_media")},
    "detect_nat": ".nat",
    "Link": ".browser.link",
    "Person": ".browser.person", "SignalingError": ".browser.person",
    "VoiceError": ".browser.person",
    "SignalingServer": ".server",
    "SignalingClient": ".browser.signaling",
    "Classroom": ".classroom",
    "BrowserMicrophone": ".views.microphone",
}
_SUBMODULES = {"browser", "lab", "classroom", "check", "ice", "nat", "stun", "turn", "views",
               "server", "events", "janus", "netlab"}

__all__ = ["DEFAULT_ROOM", "BrowserMicrophone", "Classroom", "Ear", "Event", "EventBus",
    "FileVoice", "FrameVoice", "Lab", "LabClosed", "Link",
    "MediaError", "MediaStream", "NotAllowedError", "NotFoundError", "OverconstrainedError",
    "Person", "SignalingClient", "SignalingError", "SignalingServer", "SyntheticVoice",
    "VoiceError", "detect_nat", "dominant_frequency", "enumerate_devices", "get_user_media",
    "level_dbfs", "nat_matrix"]

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from talklab.browser.hearing import Ear, dominant_frequency, level_dbfs
    from talklab.browser.link import Link
    from talklab.browser.media import (
        FileVoice,
        FrameVoice,
        MediaError,
        MediaStream,
        NotAllowedError,
        NotFoundError,
        OverconstrainedError,
        SyntheticVoice,
        enumerate_devices,
        get_user_media,
    )
    from talklab.browser.person import Person, SignalingError, VoiceError
    from talklab.browser.signaling import SignalingClient
    from talklab.classroom import Classroom
    from talklab.events import Event, EventBus
    from talklab.lab.lab import DEFAULT_ROOM, Lab, LabClosed
    from talklab.lab.matrix import nat_matrix
    from talklab.nat import detect_nat
    from talklab.server import SignalingServer
    from talklab.views.microphone import BrowserMicrophone


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule) the first time it is asked for."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    else:
        raise AttributeError(f"module 'talklab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
