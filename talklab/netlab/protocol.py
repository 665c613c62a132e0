"""How the parent and an agent talk: JSON lines over the agent's stdin and stdout (no I/O here).

One JSON object per line, UTF-8, at most :data:`MAX_LINE` bytes:

* the agent's first line, once it is ready: ``{"hello": {"name": ..., "pid": ...,
  "addresses": [...]}}`` (the addresses aioice would gather on);
* parent -> agent, a request: ``{"id": 7, "op": "ice.gather", "args": {...}}``;
* agent -> parent, its reply, by id: ``{"id": 7, "ok": true, "result": ...}`` or
  ``{"id": 7, "ok": false, "error": "...", "type": "ValueError"}``.

Requests are answered in any order (an agent runs each in a task of its own). Anything else on
a line, a line that is not JSON, or one that is too long, is a :class:`ProtocolError` naming
what arrived: the parent stops the agent and fails every call waiting on it, at once.

Tested in tests/test_netlab.py and tests/test_classroom_netlab.py (every call to an agent is a
request and its reply in these lines; root only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_LINE = 1 << 20  # bytes


class ProtocolError(RuntimeError):
    """A line that breaks the protocol."""


def _excerpt(line: bytes) -> str:
    text = repr(line[:120])
    return text + (f" ... ({len(line)} bytes)" if len(line) > 120 else "")


def _load(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"a line of {len(line)} bytes, more than {MAX_LINE}: "
                            f"{_excerpt(line)}")
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line ({exc}): {_excerpt(line)}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"a JSON line that is not an object: {_excerpt(line)}")
    return obj


def _dump(obj: dict[str, Any]) -> bytes:
    line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise ProtocolError(f"a message of {len(line)} bytes is too long for one line")
    return line


@dataclass(frozen=True)
class Request:
    id: int
    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def line(self) -> bytes:
        return _dump({"id": self.id, "op": self.op, "args": self.args})


@dataclass(frozen=True)
class Reply:
    id: int
    ok: bool
    result: Any = None
    error: str | None = None
    type: str | None = None

    def line(self) -> bytes:
        if self.ok:
            return _dump({"id": self.id, "ok": True, "result": self.result})
        return _dump({"id": self.id, "ok": False, "error": self.error, "type": self.type})


@dataclass(frozen=True)
class Hello:
    name: str
    pid: int
    addresses: list[str]

    def line(self) -> bytes:
        return _dump({"hello": {"name": self.name, "pid": self.pid,
                                "addresses": self.addresses}})


def _id(obj: dict[str, Any], line: bytes) -> int:
    value = obj.get("id")
    if type(value) is not int:
        raise ProtocolError(f"no integer 'id': {_excerpt(line)}")
    return value


def parse_request(line: bytes) -> Request:
    """What the agent reads."""
    obj = _load(line)
    op, args = obj.get("op"), obj.get("args", {})
    if not isinstance(op, str) or not isinstance(args, dict):
        raise ProtocolError(f"a request needs a string 'op' and an object 'args': "
                            f"{_excerpt(line)}")
    return Request(_id(obj, line), op, args)


def parse_reply(line: bytes) -> Reply | Hello:
    """What the parent reads."""
    obj = _load(line)
    if "hello" in obj:
        hello = obj["hello"]
        if not (isinstance(hello, dict) and isinstance(hello.get("name"), str)
                and type(hello.get("pid")) is int and isinstance(hello.get("addresses"), list)):
            raise ProtocolError(f"a malformed hello: {_excerpt(line)}")
        return Hello(hello["name"], hello["pid"], [str(a) for a in hello["addresses"]])
    ok = obj.get("ok")
    if type(ok) is not bool:
        raise ProtocolError(f"a reply needs 'ok' true or false: {_excerpt(line)}")
    if ok:
        return Reply(_id(obj, line), True, obj.get("result"))
    error = obj.get("error")
    if not isinstance(error, str):
        raise ProtocolError(f"a failed reply needs a string 'error': {_excerpt(line)}")
    kind = obj.get("type")
    return Reply(_id(obj, line), False, None, error, kind if isinstance(kind, str) else None)
