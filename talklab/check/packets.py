"""Notebook 07's code exercise: an RTP header read from its bytes.

The exercise: the learner writes ``rtp_header(packet)``, which reads the fixed header of RFC
3550 (section 5.1) from the bytes of an RTP packet. :func:`rtp_header` runs it on the packets
of the learner's own live call (the clear capture the notebook recorded) and judges each field
against aiortc's own parser, the one that carried the call; a wrong field gets a hint toward
how the bits are laid out, never the value.

Tested in tests/test_exercises_07.py (notebook 07's exercise run live on a recorded call with
the answer key, the stub and the usual mistakes).
"""

from __future__ import annotations

import os
from typing import Any

from aiortc.rtp import RtpPacket

from talklab.check.exercise import call, run
from talklab.check.feedback import NOT_YET, RIGHT, Feedback
from talklab.media_plane import demux, pcapng

__all__ = ["rtp_header"]
FIELDS = ("version", "marker", "payload_type", "sequence", "timestamp", "ssrc")
EXAMPLE = bytes.fromhex("80e0 1234 00000960 cafebabe") + b"opus"  # (for the stub: at once)


async def rtp_header(function: Any, capture: Any) -> Feedback:
    """Run your ``rtp_header(packet)`` on the RTP packets of your capture in the clear
    (``capture``: what ``lab.capture(...)`` gave, or the path of its ``.rtp.pcapng``). Right
    when every field of every packet is what aiortc read."""
    path = getattr(capture, "plaintext_path", capture)
    return await run(function, lambda f: _live(f, path), name="rtp_header")


def _packets(path: str | os.PathLike[str], limit: int = 100) -> list[bytes]:
    with open(path, "rb") as file:
        return [r.payload for r in pcapng.read(file)
                if isinstance(r, pcapng.Record) and demux.classify(r.payload) == demux.RTP][:limit]


def _truth(packet: bytes) -> dict[str, int]:
    p = RtpPacket.parse(packet)
    return {"version": p.version, "marker": int(p.marker), "payload_type": p.payload_type,
            "sequence": p.sequence_number, "timestamp": p.timestamp, "ssrc": p.ssrc}


WHERE = {"version": "the top two bits of byte 0", "marker": "the top bit of byte 1",
         "payload_type": "the low seven bits of byte 1",
         "sequence": "bytes 2 and 3, one number", "timestamp": "bytes 4 to 7, one number",
         "ssrc": "bytes 8 to 11, one number"}


def _hint(field: str, got: Any, packet: bytes) -> str:
    """Toward where the field is and how it is read, never its value."""
    b = packet
    if isinstance(got, bytes | bytearray | str):
        return (f"{field}: the value must be a number (an int), not {type(got).__name__}: "
                "turn the bytes into one integer.")
    little = {"sequence": int.from_bytes(b[2:4], "little"),
              "timestamp": int.from_bytes(b[4:8], "little"),
              "ssrc": int.from_bytes(b[8:12], "little")}
    if field in little and got == little[field]:
        return (f"{field}: those are the right bytes, read in the wrong order. The network "
                "sends the most significant byte first (big-endian).")
    if field == "version" and got == b[0]:
        return "version: byte 0 holds four fields; the version is only its top two bits."
    if field == "version" and got == b[0] & 0xC0:
        return ("version: the right two bits, still where they sit in the byte (worth 128 "
                "and 64): move them down to the bottom.")
    if field == "payload_type" and got == b[1]:
        return ("payload_type: byte 1 holds two fields: the marker in its top bit, and the "
                "payload type in the seven bits below it.")
    if field == "marker" and got not in (0, 1, True, False):
        return "marker: it is a single bit (0 or 1), the top bit of byte 1."
    return f"{field}: not what the packet says. It lives in {WHERE[field]}."


async def _live(function: Any, path: str | os.PathLike[str]) -> Feedback:
    await call(function, EXAMPLE)  # a stub says "not yet" at once
    packets = _packets(path)
    if not packets:
        return Feedback(NOT_YET, "your capture holds no RTP packet: run the cell that records "
                        "the call (with `lab.capture(...)`) first, then this check.")
    for packet in packets:
        got = await call(function, packet)
        if not isinstance(got, dict):
            return Feedback(NOT_YET, f"return a dict with the keys {', '.join(FIELDS)}; your "
                            f"function returned {type(got).__name__}.")
        missing = [f for f in FIELDS if f not in got]
        if missing:
            return Feedback(NOT_YET, f"your dict has no {', '.join(missing)}: return all of "
                            f"{', '.join(FIELDS)}.")
        truth = _truth(packet)
        for field in FIELDS:
            if got[field] != truth[field]:
                return Feedback(NOT_YET, _hint(field, got[field], packet))
    first, last = _truth(packets[0]), _truth(packets[-1])
    streams = len({_truth(p)["ssrc"] for p in packets})
    return Feedback(RIGHT, f"all {len(packets)} packets of your call ({streams} streams) read "
                    f"as aiortc reads them: version {first['version']}, payload type "
                    f"{first['payload_type']} (Opus, as the SDP's a=rtpmap:96 says), sequence "
                    f"numbers one apart, timestamps 960 apart (20 ms at 48 kHz), and the marker "
                    f"set on every packet (aiortc's choice; RFC 3551 sets it only at the start "
                    f"of a talkspurt). Last: sequence {last['sequence']}.")
