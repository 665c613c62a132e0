"""A STUN packet, taken apart byte by byte (RFC 8489, section 5 and 14; RFC 8656; RFC 5780).

aioice already parses and builds STUN messages for the servers and the ICE agent. This module
exists for learners: it shows *where* each field sits (offset, length, raw bytes), decodes each
value, and walks through the XOR that hides an address from NATs that rewrite payloads. It
verifies MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 14.5) when given a key, and FINGERPRINT
(CRC-32 xor 0x5354554E, RFC 8489 14.7). Anything malformed raises :class:`ValueError` with a
message saying what and where, never another exception.

    d = dissect(packet, key=b"password")
    d.method, d.cls, d.transaction_id, d["XOR-MAPPED-ADDRESS"], d.integrity_ok

Tested in tests/test_stun.py (RFC 5769's test vectors, a flipped byte, the table it renders,
malformed and random bytes only ever raising ValueError).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import stringprep
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import Any

MAGIC_COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E
HEADER = 20

METHODS = {0x001: "Binding", 0x003: "Allocate", 0x004: "Refresh", 0x006: "Send", 0x007: "Data",
           0x008: "CreatePermission", 0x009: "ChannelBind"}
CLASSES = {0b00: "request", 0b01: "indication", 0b10: "success response", 0b11: "error response"}

# type -> (name, kind): how the value is decoded
ATTRIBUTES: dict[int, tuple[str, str]] = {
    0x0001: ("MAPPED-ADDRESS", "address"),
    0x0003: ("CHANGE-REQUEST", "change"),
    0x0006: ("USERNAME", "text"),
    0x0008: ("MESSAGE-INTEGRITY", "hmac"),
    0x0009: ("ERROR-CODE", "error"),
    0x000A: ("UNKNOWN-ATTRIBUTES", "types"),
    0x000C: ("CHANNEL-NUMBER", "channel"),
    0x000D: ("LIFETIME", "u32"),
    0x0012: ("XOR-PEER-ADDRESS", "xor-address"),
    0x0013: ("DATA", "bytes"),
    0x0014: ("REALM", "text"),
    0x0015: ("NONCE", "text"),
    0x0016: ("XOR-RELAYED-ADDRESS", "xor-address"),
    0x0017: ("REQUESTED-ADDRESS-FAMILY", "family"),
    0x0018: ("EVEN-PORT", "bytes"),
    0x0019: ("REQUESTED-TRANSPORT", "transport"),
    0x001A: ("DONT-FRAGMENT", "empty"),
    0x001C: ("MESSAGE-INTEGRITY-SHA256", "bytes"),
    0x001D: ("PASSWORD-ALGORITHM", "bytes"),
    0x001E: ("USERHASH", "bytes"),
    0x0020: ("XOR-MAPPED-ADDRESS", "xor-address"),
    0x0022: ("RESERVATION-TOKEN", "bytes"),
    0x0024: ("PRIORITY", "u32"),
    0x0025: ("USE-CANDIDATE", "empty"),
    0x0026: ("PADDING", "bytes"),
    0x0027: ("RESPONSE-PORT", "bytes"),
    0x8022: ("SOFTWARE", "text"),
    0x8023: ("ALTERNATE-SERVER", "address"),
    0x8028: ("FINGERPRINT", "crc"),
    0x8029: ("ICE-CONTROLLED", "u64"),
    0x802A: ("ICE-CONTROLLING", "u64"),
    0x802B: ("RESPONSE-ORIGIN", "address"),
    0x802C: ("OTHER-ADDRESS", "address"),
}
FIXED_LENGTHS = {"u32": 4, "u64": 8, "hmac": 20, "crc": 4, "channel": 4, "change": 4,
                 "transport": 4, "family": 4, "empty": 0}


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep, as STUN long-term passwords need it (RFC 8489, 9.2.2)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in text if not stringprep.in_table_b1(c))
    return unicodedata.normalize("NFKC", mapped)


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key: MD5(username ":" realm ":" SASLprep(password)),
    RFC 8489 section 9.2.2 (the key TURN servers and clients share)."""
    return hashlib.md5(f"{username}:{realm}:{saslprep(password)}".encode()).digest()


@dataclass
class Attribute:
    name: str
    type: int
    offset: int  # where the attribute header starts, from the start of the message
    length: int  # value length, without padding
    raw: bytes  # the value's bytes as sent (without padding)
    value: Any
    steps: list[str] = field(default_factory=list)  # how the value was decoded, for learners


@dataclass
class Dissection:
    message_type: int
    method: str
    cls: str
    length: int
    magic_cookie: str
    transaction_id: str
    attributes: list[Attribute]
    integrity_ok: bool | None
    fingerprint_ok: bool | None
    size: int

    @property
    def header(self) -> dict:
        return {"message_type": f"0x{self.message_type:04x}", "method": self.method,
                "class": self.cls, "length": self.length, "magic_cookie": self.magic_cookie,
                "transaction_id": self.transaction_id}

    def __getitem__(self, name: str) -> Any:
        for a in self.attributes:
            if a.name == name:
                return a.value
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def rows(self) -> list[dict]:
        """One row per field, header first: what the HTML table shows."""
        out = [
            {"offset": 0, "field": "message type", "length": 2,
             "value": f"{self.method} {self.cls} (0x{self.message_type:04x})"},
            {"offset": 2, "field": "message length", "length": 2, "value": self.length},
            {"offset": 4, "field": "magic cookie", "length": 4, "value": self.magic_cookie},
            {"offset": 8, "field": "transaction ID", "length": 12, "value": self.transaction_id},
        ]
        for a in self.attributes:
            value = a.value
            if a.name == "MESSAGE-INTEGRITY" and self.integrity_ok is not None:
                value = f"{a.raw.hex()} ({'valid' if self.integrity_ok else 'INVALID'})"
            elif a.name == "FINGERPRINT":
                value = f"0x{a.value:08x} ({'valid' if self.fingerprint_ok else 'INVALID'})"
            out.append({"offset": a.offset, "field": a.name, "length": a.length,
                        "value": value, "steps": a.steps})
        return out

    def __repr__(self) -> str:  # what a notebook shows as text: a summary, not the fields
        names = ", ".join(a.name for a in self.attributes) or "no attributes"
        return f"<STUN {self.method} {self.cls}, {self.size} bytes: {names}>"

    def _repr_html_(self) -> str:
        cells = []
        for r in self.rows():
            steps = "<br>".join(html.escape(s) for s in r.get("steps", []))
            cells.append(
                f"<tr><td>{r['offset']}</td><td><b>{html.escape(r['field'])}</b></td>"
                f"<td>{r['length']}</td><td><code>{html.escape(_shown(r['value']))}</code>"
                f"{'<br><small>' + steps + '</small>' if steps else ''}</td></tr>")
        return ("<table><thead><tr><th>offset</th><th>field</th><th>bytes</th><th>value</th>"
                f"</tr></thead><tbody>{''.join(cells)}</tbody></table>"
                f"<small>{self.size} bytes</small>")


def _shown(value: Any) -> str:
    """A decoded value as a learner reads it: ``ip:port``, not a Python tuple."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], int):
        return f"{value[0]}:{value[1]}" if ":" not in value[0] else f"[{value[0]}]:{value[1]}"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex(" ") if value else "(empty)"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {_yes_no(v)}" for k, v in value.items())
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        return f"{value[0]} {value[1]}"  # ERROR-CODE: code, reason
    return str(value)


def _yes_no(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _address(value: bytes, where: str) -> tuple[str, int]:
    if len(value) < 4:
        raise ValueError(f"{where}: address value too short ({len(value)} bytes)")
    family, port = struct.unpack("!xBH", value[:4])
    size = {1: 4, 2: 16}.get(family)
    if size is None:
        raise ValueError(f"{where}: unknown address family 0x{family:02x}")
    if len(value) != 4 + size:
        raise ValueError(f"{where}: an IPv{4 if family == 1 else 6} address needs "
                         f"{4 + size} bytes, got {len(value)}")
    return str(ipaddress.ip_address(value[4:])), port


def _xor_address(value: bytes, transaction_id: bytes, where: str) -> tuple[tuple[str, int],
                                                                            list[str]]:
    xored_ip, xored_port = _address(value, where)
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC_COOKIE >> 16)
    mask = struct.pack("!I", MAGIC_COOKIE) + (transaction_id if len(value) == 20 else b"")
    ip_bytes = bytes(a ^ b for a, b in zip(value[4:], mask, strict=True))
    ip = str(ipaddress.ip_address(ip_bytes))
    steps = [f"port: 0x{value[2:4].hex()} XOR 0x2112 = 0x{port:04x} = {port}",
             f"address: 0x{value[4:].hex()} XOR 0x{mask.hex()} = 0x{ip_bytes.hex()} = {ip}",
             f"(sent as {xored_ip}:{xored_port} before the XOR)"]
    return (ip, port), steps


def _text(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not valid UTF-8") from None


def _decode(kind: str, value: bytes, transaction_id: bytes, where: str) -> tuple[Any, list[str]]:
    if kind in FIXED_LENGTHS and len(value) != FIXED_LENGTHS[kind]:
        raise ValueError(f"{where}: must be {FIXED_LENGTHS[kind]} bytes, got {len(value)}")
    if kind == "address":
        return _address(value, where), []
    if kind == "xor-address":
        return _xor_address(value, transaction_id, where)
    if kind == "text":
        return _text(value, where), []
    if kind in ("u32", "crc"):
        return struct.unpack("!I", value)[0], []
    if kind == "u64":
        return struct.unpack("!Q", value)[0], []
    if kind == "channel":
        return struct.unpack("!H", value[:2])[0], []
    if kind == "transport":
        proto = value[0]
        name = {17: "UDP", 6: "TCP"}.get(proto, "?")
        return proto, [f"protocol {proto} = {name}"]
    if kind == "family":
        return value[0], []
    if kind == "change":
        flags = struct.unpack("!I", value)[0]
        return {"change_ip": bool(flags & 4), "change_port": bool(flags & 2)}, []
    if kind == "error":
        if len(value) < 4:
            raise ValueError(f"{where}: ERROR-CODE needs at least 4 bytes")
        code = (value[2] & 0x07) * 100 + value[3]
        return (code, _text(value[4:], where)), []
    if kind == "types":
        if len(value) % 2:
            raise ValueError(f"{where}: UNKNOWN-ATTRIBUTES length must be even")
        return [f"0x{t:04x}" for t in struct.unpack(f"!{len(value) // 2}H", value)], []
    if kind == "empty":
        return True, []
    return value, []  # bytes, hmac


def dissect(data: bytes, *, key: bytes | str | None = None) -> Dissection:
    """Take a STUN message apart. ``key`` checks MESSAGE-INTEGRITY: the password (short-term)
    or :func:`long_term_key` (long-term). Raises :class:`ValueError` on malformed input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"a STUN message is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER:
        raise ValueError(f"too short for a STUN header: {len(data)} bytes, need 20")
    message_type, length, cookie = struct.unpack("!HHI", data[:8])
    transaction_id = data[8:20]
    if message_type & 0xC000:
        raise ValueError("the first two bits must be zero (this is not STUN; ChannelData "
                         "starts with 0b01)")
    if cookie != MAGIC_COOKIE:
        raise ValueError(f"magic cookie is 0x{cookie:08x}, must be 0x2112a442")
    if length % 4:
        raise ValueError(f"message length {length} is not a multiple of 4")
    if HEADER + length != len(data):
        raise ValueError(f"message length says {length} bytes of attributes, "
                         f"but {len(data) - HEADER} follow the header")
    method_bits = (message_type & 0x000F) | ((message_type & 0x00E0) >> 1) | \
        ((message_type & 0x3E00) >> 2)
    class_bits = ((message_type >> 7) & 0b10) | ((message_type >> 4) & 0b01)
    if isinstance(key, str):
        key = saslprep(key).encode()

    attributes: list[Attribute] = []
    integrity_ok = fingerprint_ok = None
    pos = HEADER
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError(f"offset {pos}: truncated attribute header")
        attr_type, attr_len = struct.unpack("!HH", data[pos:pos + 4])
        end = pos + 4 + attr_len
        if end > len(data):
            raise ValueError(f"offset {pos}: attribute 0x{attr_type:04x} says {attr_len} bytes, "
                             f"only {len(data) - pos - 4} remain")
        if attributes and attributes[-1].name == "FINGERPRINT":
            raise ValueError(f"offset {pos}: nothing may follow FINGERPRINT")
        name, kind = ATTRIBUTES.get(attr_type, (f"0x{attr_type:04x}", "bytes"))
        raw = data[pos + 4:end]
        value, steps = _decode(kind, raw, transaction_id, f"offset {pos} ({name})")
        if name == "MESSAGE-INTEGRITY" and key is not None:
            covered = data[:2] + struct.pack("!H", end - HEADER) + data[4:pos]
            integrity_ok = hmac.compare_digest(raw, hmac.new(key, covered, "sha1").digest())
        if name == "FINGERPRINT":
            covered = data[:2] + struct.pack("!H", end - HEADER) + data[4:pos]
            fingerprint_ok = value == (zlib.crc32(covered) ^ FINGERPRINT_XOR)
        attributes.append(Attribute(name, attr_type, pos, attr_len, raw, value, steps))
        pos = end + (-attr_len % 4)
    if pos != len(data):
        raise ValueError("the last attribute's padding runs past the end of the message")
    return Dissection(
        message_type=message_type,
        method=METHODS.get(method_bits, f"0x{method_bits:03x}"),
        cls=CLASSES[class_bits],
        length=length,
        magic_cookie=f"0x{cookie:08x}",
        transaction_id=transaction_id.hex(),
        attributes=attributes,
        integrity_ok=integrity_ok,
        fingerprint_ok=fingerprint_ok,
        size=len(data),
    )
