"""The packets of a voice, as tables and a drawing: what one machine's capture holds
(:mod:`talklab.media_plane`), explained, then shown byte by byte.

* :func:`wire_table` — the datagrams each way, by protocol (RFC 7983's demultiplexer);
* :func:`flights_table` and :func:`session_table` — the DTLS handshake: who said what, in
  order, and what it agreed;
* :func:`rtp_header_table` — one RTP packet's header, field by field, with its bytes;
* :func:`rtp_table` and :func:`draw_second` — a stream's packets: sequence numbers,
  timestamps, sizes, one second of them drawn each way;
* :func:`round_trip_table` — RTCP's round trip, report by report, three ways;
* :func:`eavesdropper_table` — one packet as anybody on the path sees it, and as the call's
  two ends do.

Tested in tests/test_capture.py (each view of a real call's capture, readable: no raw repr).
"""

from __future__ import annotations

import html
import itertools
import os
import pathlib
from collections import Counter
from collections.abc import Iterable, Sequence

from aiortc.rtp import RtpPacket, unpack_header_extensions

from talklab.media_plane import demux
from talklab.media_plane.dtls import DtlsSession, Flight
from talklab.media_plane.pcapng import Record
from talklab.media_plane.rtcp import RoundTrip
from talklab.views.drawing import Drawing, figure
from talklab.views.tables import Table

SHOWN_KINDS = (demux.STUN, demux.DTLS, demux.RTP, demux.RTCP, demux.CHANNEL_DATA)
ON_THE_WIRE = {demux.RTP: "SRTP", demux.RTCP: "SRTCP"}  # what RTP and RTCP are on the wire


def _who(address: tuple[str, int], names: dict[str, str]) -> str:
    return names.get(address[0], f"{address[0]}:{address[1]}")


def wire_table(wire: Iterable[Record], names: dict[str, str], title: str = "") -> Table:
    """How many datagrams went each way, by protocol, and how many bytes of UDP payload
    (``names``: each address's person, e.g. ``{"127.10.0.1": "Alice"}``)."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    sizes: Counter[tuple[str, str]] = Counter()
    for r in wire:
        way = (_who(r.source, names), _who(r.destination, names))
        counts.setdefault(way, Counter())[demux.classify(r.payload)] += 1
        sizes[way] += len(r.payload)
    rows = []
    for way, count in counts.items():
        row: dict[str, object] = {"from → to": f"{way[0]} → {way[1]}"}
        for kind in SHOWN_KINDS:
            if any(kind in c for c in counts.values()):
                row[ON_THE_WIRE.get(kind, kind)] = count.get(kind, 0)
        row["bytes"] = sizes[way]
        rows.append(row)
    return Table(rows, title or "the datagrams on the wire, each way, told apart by first byte")


def flights_table(flights: Sequence[Flight], names: dict[str, str]) -> Table:
    """The DTLS handshake, datagram by datagram: when (ms after the first), who to whom, and
    the messages each carried."""
    if not flights:
        return Table([], "the DTLS handshake")
    start = flights[0].t
    return Table([{"ms": round(1000 * (f.t - start), 1),
                   "from → to": f"{_who(f.source, names)} → {_who(f.destination, names)}",
                   "messages": ", ".join(f.messages)} for f in flights],
                 "the DTLS handshake, datagram by datagram")


def _short(data: bytes, keep: int = 6) -> str:
    shown = data[:keep].hex(" ")
    return f"{shown} … ({len(data)} bytes)" if len(data) > keep else shown


def session_table(session: DtlsSession, title: str = "") -> Table:
    """What one end's handshake agreed, and the SRTP keys it exported (their first bytes)."""
    k = session.keys
    return Table([
        {"what": "this end's DTLS role", "value": session.role},
        {"what": "version", "value": session.version},
        {"what": "cipher suite", "value": session.cipher},
        {"what": "SRTP protection profile (use_srtp)", "value": session.srtp_profile},
        {"what": "our certificate's sha-256 (our a=fingerprint)",
         "value": session.local_fingerprint[:23] + " …"},
        {"what": "the certificate they presented, its sha-256",
         "value": session.remote_fingerprint[:23] + " …"},
        {"what": "client write key", "value": _short(k.client_key)},
        {"what": "server write key", "value": _short(k.server_key)},
        {"what": "client write salt", "value": _short(k.client_salt)},
        {"what": "server write salt", "value": _short(k.server_salt)},
    ], title or "what the handshake agreed")


def header_extension(packet: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """The header extension of an RTP packet: its length in bytes, header included, and its
    elements as ``(id, value)``, read by aiortc's own parser (RFC 8285); (0, []) if none."""
    if len(packet) < 16 or not packet[0] & 0x10:
        return 0, []
    start = 12 + 4 * (packet[0] & 0x0F)  # (after the CSRCs)
    profile = int.from_bytes(packet[start:start + 2], "big")
    words = int.from_bytes(packet[start + 2:start + 4], "big")
    return 4 + 4 * words, unpack_header_extensions(profile,
                                                   packet[start + 4:start + 4 + 4 * words])


def rtp_header_table(packet: bytes, extensions: dict[int, str] | None = None) -> Table:
    """One RTP packet's header (RFC 3550, section 5.1) field by field, with the bytes each
    comes from, its header extension if it has one (named by ``extensions``: the SDP's
    ``a=extmap`` ids), and where the payload starts."""
    p = RtpPacket.parse(packet)
    b = packet
    size, elements = header_extension(packet)
    named = extensions or {}
    rows: list[dict[str, object]] = [
        {"bytes": "0", "field": "version (top 2 bits)", "bits": f"{b[0]:08b}", "value": p.version},
        {"bytes": "0", "field": "padding, extension (next 2 bits)",
         "bits": f"{b[0]:08b}", "value": f"{bool(b[0] & 0x20)}, {bool(b[0] & 0x10)}"},
        {"bytes": "0", "field": "CSRC count (low 4 bits)", "bits": f"{b[0]:08b}",
         "value": len(p.csrc)},
        {"bytes": "1", "field": "marker (top bit)", "bits": f"{b[1]:08b}", "value": p.marker},
        {"bytes": "1", "field": "payload type (low 7 bits)", "bits": f"{b[1]:08b}",
         "value": p.payload_type},
        {"bytes": "2-3", "field": "sequence number", "bits": b[2:4].hex(" "),
         "value": p.sequence_number},
        {"bytes": "4-7", "field": "timestamp", "bits": b[4:8].hex(" "), "value": p.timestamp},
        {"bytes": "8-11", "field": "SSRC", "bits": b[8:12].hex(" "), "value": p.ssrc},
    ]
    start = 12 + 4 * len(p.csrc)
    if size:
        said = ", ".join(f"id {i} ({named.get(i, 'not in the SDP')}): "
                         + (f'"{v.decode()}"' if v.isascii() and v.decode().isprintable()
                            else v.hex(" ")) for i, v in elements)
        rows.append({"bytes": f"{start}-{start + size - 1}", "field": "header extension "
                     "(RFC 8285)", "bits": b[start:start + size].hex(" "), "value": said})
    rows.append({"bytes": f"{start + size}-", "field": "payload (an Opus frame)",
                 "bits": _short(p.payload, 4), "value": f"{len(p.payload)} bytes"})
    return Table(rows, "one RTP packet's header, byte by byte")


def extmap(sdp: str) -> dict[int, str]:
    """The header extensions a description declares (``a=extmap:ID URI``), by id, named by
    the last part of their URI."""
    found = {}
    for line in sdp.splitlines():
        if line.startswith("a=extmap:"):
            ident, _, uri = line.removeprefix("a=extmap:").partition(" ")
            found[int(ident.split("/")[0])] = uri.rsplit(":", 1)[-1]
    return found


def rtp_packets(records: Iterable[Record], sent: bool = True) -> list[tuple[float, RtpPacket]]:
    """The RTP packets (not RTCP) of a capture in the clear, sent or received, parsed."""
    out = []
    for r in records:
        if r.sent is sent and demux.classify(r.payload) == demux.RTP:
            try:
                out.append((r.t, RtpPacket.parse(r.payload)))
            except ValueError:
                continue
    return out


def rtp_table(records: Iterable[Record], sent: bool = True, count: int = 8,
              skip: int = 0) -> Table:
    """``count`` packets of one direction's stream: when, sequence number, timestamp and how
    much each moved, marker, payload type and size."""
    packets = rtp_packets(records, sent)[skip:skip + count + 1]
    rows = []
    for (_, a), (t, b) in itertools.pairwise(packets):
        rows.append({"ms after the first": round(1000 * (t - packets[0][0]), 1),
                     "SSRC": b.ssrc, "sequence": b.sequence_number,
                     "sequence +": (b.sequence_number - a.sequence_number) % 65536,
                     "timestamp": b.timestamp,
                     "timestamp +": (b.timestamp - a.timestamp) % 2**32,
                     "marker": b.marker, "payload type": b.payload_type,
                     "payload bytes": len(b.payload)})
    return Table(rows, "RTP packets, one after the other")


def draw_second(records: Sequence[Record], names: dict[str, str], seconds: float = 1.0,
                skip: float = 0.5) -> Drawing:
    """``seconds`` of a call in the clear, each way: a line per RTP packet, as tall as its
    payload, and a diamond per RTCP packet (after the first ``skip`` s)."""
    rtp = [r for r in records if demux.classify(r.payload) in (demux.RTP, demux.RTCP)]
    fig, ax = figure(height=2.6)
    if rtp:
        start = rtp[0].t + skip
        ways = sorted({(_who(r.source, names), _who(r.destination, names)) for r in rtp})
        for row, way in enumerate(ways):
            mine = [r for r in rtp if (_who(r.source, names), _who(r.destination, names)) == way
                    and start <= r.t < start + seconds]
            media = [r for r in mine if demux.classify(r.payload) == demux.RTP]
            xs = [1000 * (r.t - start) for r in media]
            tallest = max((len(r.payload) for r in media), default=1)
            ax.vlines(xs, row, [row + 0.8 * len(r.payload) / tallest for r in media],
                      color="#2563eb" if row == 0 else "#059669", linewidth=1.2)
            reports = [1000 * (r.t - start) for r in mine if demux.classify(r.payload) ==
                       demux.RTCP]
            ax.plot(reports, [row] * len(reports), "D", color="#b91c1c", markersize=5,
                    clip_on=False)
            ax.text(1000 * seconds + 8, row + 0.35, f"{way[0]} → {way[1]}: {len(media)} RTP",
                    fontsize=8, va="center")
        ax.set_yticks([])
        ax.set_ylim(-0.1, len(ways))
    ax.set_xlim(0, 1000 * seconds)
    ax.set_xlabel("ms (a line per RTP packet, as tall as its payload; ◆ an RTCP report, on the "
                  "line of the stream that sent it)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return Drawing.of(fig, "one second of packets")


def round_trip_table(trips: Iterable[RoundTrip]) -> Table:
    """Each report about our stream: LSR and DLSR, the RFC's formula on the bytes, and the
    round trip measured from when the report's SR really left (what Wireshark computes)."""
    rows = []
    for i, trip in enumerate(trips):
        rows.append({
            "report": i + 1, "LSR": f"0x{trip.lsr:08x}", "DLSR ms": round(1000 * trip.dlsr, 1),
            "A − LSR − DLSR ms": None if trip.by_rfc is None else round(1000 * trip.by_rfc, 1),
            "from the SR's real send time ms":
                None if trip.measured is None else round(1000 * trip.measured, 1)})
    return Table(rows, "RTCP's round trip, report by report")


def eavesdropper_table(wire: Record, clear: bytes, names: dict[str, str]) -> Table:
    """One SRTP packet as anyone on the path sees it, beside what the call's ends see."""
    seen = RtpPacket.parse(wire.payload)  # (its header is in the clear: RFC 3711, 3.1)
    real = RtpPacket.parse(clear)
    return Table([
        {"what": "from → to", "on the path": f"{_who(wire.source, names)} "
         f"({wire.source[0]}:{wire.source[1]}) → {wire.destination[0]}:{wire.destination[1]}",
         "at the two ends": "the same"},
        {"what": "size", "on the path": f"{len(wire.payload)} bytes",
         "at the two ends": f"{len(clear)} bytes (the rest is SRTP's authentication tag)"},
        {"what": "SSRC, sequence, timestamp", "on the path":
            f"{seen.ssrc}, {seen.sequence_number}, {seen.timestamp}",
         "at the two ends": f"{real.ssrc}, {real.sequence_number}, {real.timestamp}"},
        {"what": "payload type, marker", "on the path": f"{seen.payload_type}, {seen.marker}",
         "at the two ends": f"{real.payload_type}, {real.marker}"},
        {"what": "the audio (first bytes)",
         "on the path": _short(seen.payload, 8) + ": ciphertext, then the tag",
         "at the two ends": _short(real.payload, 8) + ": an Opus frame"},
    ], "one packet of Alice's voice, as the path sees it and as Bob does")


class Downloads:
    """Links that download a capture's two files (JupyterLab would open a link to a pcapng
    file as text; a link with ``download`` it leaves to the browser)."""

    def __init__(self, *paths: str | os.PathLike[str]) -> None:
        self.paths = [pathlib.Path(p) for p in paths]

    def _repr_html_(self) -> str:
        links = " · ".join(
            f"<a href='{html.escape(p.as_posix())}' download='{html.escape(p.name)}'>"
            f"{html.escape(p.name)}</a> ({p.stat().st_size // 1024} kB)" if p.exists() else
            f"{html.escape(p.name)} (not recorded yet)" for p in self.paths)
        return f"<div>download: {links}</div>"

    def __repr__(self) -> str:
        return "the captures, to download: " + ", ".join(p.as_posix() for p in self.paths)
