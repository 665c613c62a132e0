"""python-socketio's settings in talklab's stack, and the JSON they use.

The server (:mod:`.app`) and the protocol tests build their ``AsyncServer`` with
:data:`SOCKETIO_OPTIONS`, so what is tested is what runs.

Tested in tests/test_socketio_protocol.py (talklab's servers there are built with SOCKETIO_OPTIONS,
FastJson included, and do what stock python-socketio does).
"""

from __future__ import annotations

from typing import Any

import orjson


class FastJson:
    """JSON for Socket.IO packets, with orjson: parsing and writing every relayed message was a
    tenth of a relay's cost with the standard library (measured)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


# python-socketio settings of talklab's stack (the protocol tests build their server with them)
SOCKETIO_OPTIONS: dict[str, Any] = {
    # CORS and the Origin check are the gate's (gate.py): python-engineio's own echoed any
    # Origin back with Access-Control-Allow-Credentials: true. [] turns its handling off.
    "cors_allowed_origins": [],
    "cors_credentials": False,
    # Handle each client's events in order, inline: an ICE candidate can never overtake the
    # offer it belongs to, and no task is spawned per message.
    "async_handlers": False,
    "json": FastJson,
    "logger": False,
    "engineio_logger": False,
}
