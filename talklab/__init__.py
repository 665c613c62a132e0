"""talklab: take apart a WebRTC voice room, live, inside a notebook.

The seed's five systems, each a module you can open:

* Step 1, getUserMedia: :mod:`talklab.media` (and :mod:`talklab.encoding`)
* Steps 2-7, the signaling server: :mod:`talklab.server` (the ``server/`` folder)
* the seed's browser, one per person: :mod:`talklab.person` (and its links, :mod:`talklab.link`)
* Step 8, ICE: :mod:`talklab.ice`, with :mod:`talklab.stun`, :mod:`talklab.turn` and the
  simulated network :mod:`talklab.nat`
* Step 9, what each person hears: :mod:`talklab.hearing`

:class:`talklab.Lab` puts them together; :class:`talklab.Classroom` is a teacher's servers for a
class, which students' labs join by URL (``Lab(server=...)``, :mod:`talklab.classroom`).

Importing ``talklab`` loads nothing heavy and changes nothing: each name below is imported the
first time it is used (PEP 562), so ``import talklab.server`` (the signaling server alone)
never loads aiortc, PyAV, numpy or matplotlib. talklab's adjustments to aiortc and aioice
(:mod:`talklab._aiortc`) apply only while a :class:`Lab` runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# name -> the module (relative to this package) that defines it
_EXPORTS = {
    "DEFAULT_ROOM": ".lab", "Lab": ".lab",
    "Event": ".events", "EventBus": ".events",
    "Ear": ".hearing", "dominant_frequency": ".hearing", "level_dbfs": ".hearing",
    "LabClosed": ".lab",
    "nat_matrix": ".matrix",
    "FileVoice": ".media", "FrameVoice": ".media", "MediaError": ".media", "MediaStream": ".media",
    "NotAllowedError": ".media", "NotFoundError": ".media", "OverconstrainedError": ".media",
    "SyntheticVoice": ".media", "enumerate_devices": ".media", "get_user_media": ".media",
    "detect_nat": ".nat",
    "Link": ".link",
    "Person": ".person", "SignalingError": ".person", "VoiceError": ".person",
    "SignalingServer": ".server",
    "SignalingClient": ".signaling",
    "Classroom": ".classroom",
}
_SUBMODULES = {"classroom", "check", "ice", "nat", "stun", "turn", "views", "server", "media",
               "hearing", "sdp", "person", "link", "lab", "matrix", "events", "signaling",
               "encoding"}

__all__ = ["DEFAULT_ROOM", "Classroom", "Ear", "Event", "EventBus", "FileVoice", "FrameVoice",
    "Lab", "LabClosed", "Link",
    "MediaError", "MediaStream", "NotAllowedError", "NotFoundError", "OverconstrainedError",
    "Person", "SignalingClient", "SignalingError", "SignalingServer", "SyntheticVoice",
    "VoiceError", "detect_nat", "dominant_frequency", "enumerate_devices", "get_user_media",
    "level_dbfs", "nat_matrix"]

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from talklab.classroom import Classroom
    from talklab.events import Event, EventBus
    from talklab.hearing import Ear, dominant_frequency, level_dbfs
    from talklab.lab import DEFAULT_ROOM, Lab, LabClosed
    from talklab.link import Link
    from talklab.matrix import nat_matrix
    from talklab.media import (
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
    from talklab.nat import detect_nat
    from talklab.person import Person, SignalingError, VoiceError
    from talklab.server import SignalingServer
    from talklab.signaling import SignalingClient


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
