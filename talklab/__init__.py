"""talklab: take apart a WebRTC voice room, live, inside a notebook.

The seed's five systems, each a module you can open:

* Step 1, getUserMedia: :mod:`talklab.media` (and :mod:`talklab.encoding`)
* Steps 2-7, the signaling server: :mod:`talklab.server` (the ``server/`` folder)
* the seed's browser, one per person: :mod:`talklab.person`
* Step 8, ICE: :mod:`talklab.ice`, with :mod:`talklab.stun`, :mod:`talklab.turn` and the
  simulated network :mod:`talklab.nat`
* Step 9, what each person hears: :mod:`talklab.hearing`

:class:`talklab.Lab` puts them together.
"""

from . import (  # noqa: F401
    _aiortc,
    check,
    ice,
    nat,
    stun,
    turn,
    views,
)
from .events import Event, EventBus
from .hearing import Ear, dominant_frequency, level_dbfs
from .lab import DEFAULT_ROOM, Lab
from .matrix import nat_matrix
from .media import (
    FileVoice,
    MediaError,
    MediaStream,
    NotAllowedError,
    NotFoundError,
    OverconstrainedError,
    SyntheticVoice,
    enumerate_devices,
    get_user_media,
)
from .nat import detect_nat
from .person import Link, Person, SignalingError, VoiceError
from .server import SignalingServer
from .signaling import SignalingClient

__all__ = [
    "DEFAULT_ROOM", "Ear", "Event", "EventBus", "FileVoice", "Lab", "Link", "MediaError",
    "MediaStream", "NotAllowedError", "NotFoundError", "OverconstrainedError", "Person",
    "SignalingClient", "SignalingError", "SignalingServer", "SyntheticVoice", "VoiceError",
    "detect_nat", "dominant_frequency", "enumerate_devices", "get_user_media", "level_dbfs",
    "nat_matrix",
]
__version__ = "0.1.0"
