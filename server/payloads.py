"""What each signaling event must carry, checked before anything else happens.

The seed's server destructures payloads blindly (``({ offer, to }) => ...``): a missing field
becomes ``undefined`` and is relayed anyway. Here every event's payload is parsed into a small,
clean dict first. Anything malformed raises :class:`InvalidPayload` with a message that says
what was wrong; the handler turns that into a ``signalingError`` and changes no state.

Unknown extra fields are ignored (a newer client may send more), and are never relayed.

Tested in tests/test_server.py (a malformed payload is refused with signalingError and changes
nothing, many in a row too; a room code with spaces is refused).
"""

from __future__ import annotations

import re
from typing import Any

ROOM_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_USERNAME = 64
MAX_ID = 64
MAX_SDP = 64 * 1024
MAX_CANDIDATE = 2 * 1024


class InvalidPayload(ValueError):
    """A payload that does not have the shape its event requires."""


def _obj(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise InvalidPayload(f"payload must be an object, got {_kind(payload)}")
    return payload


def _kind(value: Any) -> str:
    return {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _str(payload: dict, key: str, *, max_len: int, min_len: int = 1) -> str:
    if key not in payload:
        raise InvalidPayload(f"'{key}' is required")
    value = payload[key]
    if not isinstance(value, str):
        raise InvalidPayload(f"'{key}' must be a string, got {_kind(value)}")
    if not min_len <= len(value) <= max_len:
        raise InvalidPayload(f"'{key}' must be {min_len}-{max_len} characters, got {len(value)}")
    return value


def room(payload: dict) -> str:
    value = _str(payload, "room", max_len=32)
    if not ROOM_RE.fullmatch(value):
        raise InvalidPayload("'room' must match [A-Za-z0-9_-]{1,32}")
    return value


def join_room(payload: Any) -> dict:
    """``joinRoom {room, username, userId?}``"""
    p = _obj(payload)
    username = _str(p, "username", max_len=MAX_USERNAME)
    if not username.strip() or any(ord(c) < 32 for c in username):
        raise InvalidPayload("'username' must be printable and not blank")
    out = {"room": room(p), "username": username, "userId": None}
    if p.get("userId") is not None:
        out["userId"] = _str(p, "userId", max_len=MAX_ID)
    return out


def room_only(payload: Any) -> dict:
    """``joinVoice {room}`` and ``leaveVoice {room}``"""
    return {"room": room(_obj(payload))}


def description(payload: Any, key: str) -> dict:
    """``webrtc-offer {offer, to}`` / ``webrtc-answer {answer, to}``.

    The description is what a browser's ``RTCSessionDescription`` serialises to:
    ``{type: "offer"|"answer", sdp: "v=0..."}``.
    """
    p = _obj(payload)
    to = _str(p, "to", max_len=MAX_ID)
    if key not in p:
        raise InvalidPayload(f"'{key}' is required")
    desc = p[key]
    if not isinstance(desc, dict):
        raise InvalidPayload(f"'{key}' must be an object with type and sdp, got {_kind(desc)}")
    if desc.get("type") != key:
        raise InvalidPayload(f"'{key}.type' must be \"{key}\"")
    sdp = _str(desc, "sdp", max_len=MAX_SDP)
    if not sdp.startswith("v=0"):
        raise InvalidPayload(f"'{key}.sdp' is not SDP (it must start with v=0)")
    return {key: {"type": key, "sdp": sdp}, "to": to}


def ice_candidate(payload: Any) -> dict:
    """``webrtc-ice-candidate {candidate, to}``.

    The candidate is a browser ``RTCIceCandidate`` in JSON form: ``{candidate, sdpMid,
    sdpMLineIndex, usernameFragment?}``. An empty ``candidate`` string is the standard
    end-of-candidates marker and is relayed too.
    """
    p = _obj(payload)
    to = _str(p, "to", max_len=MAX_ID)
    if "candidate" not in p:
        raise InvalidPayload("'candidate' is required")
    c = p["candidate"]
    if not isinstance(c, dict):
        raise InvalidPayload(f"'candidate' must be an object, got {_kind(c)}")
    text = _str(c, "candidate", max_len=MAX_CANDIDATE, min_len=0)
    if text and not text.startswith("candidate:"):
        raise InvalidPayload("'candidate.candidate' must start with 'candidate:' or be empty")
    mid = c.get("sdpMid")
    index = c.get("sdpMLineIndex")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise InvalidPayload("'candidate.sdpMid' must be a short string or null")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                              or not 0 <= index < 1024):
        raise InvalidPayload("'candidate.sdpMLineIndex' must be a small integer or null")
    if mid is None and index is None:
        raise InvalidPayload("'candidate' needs sdpMid or sdpMLineIndex")
    out = {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}
    ufrag = c.get("usernameFragment")
    if isinstance(ufrag, str) and len(ufrag) <= 256:
        out["usernameFragment"] = ufrag
    return {"candidate": out, "to": to}
