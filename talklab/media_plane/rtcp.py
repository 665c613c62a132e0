"""RTCP's round trip, report by report, from a capture's packets in the clear.

Every 0.5 to 1.5 s each end of a call sends an RTCP sender report (SR) about its own stream,
and in each report (SR or RR) a block about every stream it receives: how much was lost, the
jitter, and LSR and DLSR, which let the stream's sender compute the round-trip time (RFC
3550, section 6.4.1; :mod:`talklab.media_plane.rtt`). From one machine's capture
(:func:`round_trips`), for each report block that comes back about its stream:

* ``by_rfc``: the RFC's formula on the bytes, ``A - LSR - DLSR``, with ``A`` the time the
  report arrived;
* ``measured``: the arrival time minus the time the SR with that LSR left this machine (both
  from the capture), minus DLSR: what Wireshark's RTCP analysis computes ("round-trip delay").

The two differ because the SR's NTP timestamp should say when the report was sent (RFC 3550,
section 6.4.1), and aiortc 1.16 fills it with the time of the last RTP packet it sent (up to a
20 ms frame earlier): the formula then counts that wait as part of the trip. aiortc's own
figure (``getStats()``'s ``roundTripTime``) is computed like ``measured`` and smoothed.

Tested in tests/test_capture.py (a call with 50 ms each way: talklab's figures beside
tshark's, report by report).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from aiortc.rtp import RtcpPacket, RtcpRrPacket, RtcpSrPacket

from talklab.media_plane.demux import RTCP, classify
from talklab.media_plane.pcapng import Record
from talklab.media_plane.rtt import middle_32, ntp_time, round_trip

REMEMBERED = 64  # the SRs sent whose LSR a report may still echo


@dataclass(frozen=True)
class RoundTrip:
    """One report block about our stream, and the round trip it gives."""

    t: float  # when the report arrived (Unix time)
    reporter: int  # the SSRC of the stream of whoever reported
    about: int  # the SSRC of our stream, which the block is about
    lsr: int  # the middle 32 bits of our SR's NTP timestamp, echoed
    dlsr: float  # s the other end held our SR before reporting
    by_rfc: float | None  # s: A - LSR - DLSR
    sr_sent: float | None  # when the SR with that LSR left (Unix time), if captured
    measured: float | None  # s: arrival - SR sent - DLSR (Wireshark's round-trip delay)
    fraction_lost: float  # 0..1, since the last report
    jitter: int  # RTP timestamp units (÷ 48,000 for seconds, for Opus)


def reports(payload: bytes) -> list[RtcpSrPacket | RtcpRrPacket]:
    """The sender and receiver reports of one RTCP compound packet ([] if it is not one)."""
    if classify(payload) != RTCP:
        return []
    try:
        packets = RtcpPacket.parse(payload)
    except ValueError:
        return []
    return [p for p in packets if isinstance(p, RtcpSrPacket | RtcpRrPacket)]


def round_trips(records: Iterable[Record]) -> list[RoundTrip]:
    """Every round trip the machine captured could compute, in order of arrival (records: a
    capture's clear packets, with their direction)."""
    sent: OrderedDict[int, float] = OrderedDict()  # LSR of each SR sent -> when it left
    out = []
    for record in records:
        for report in reports(record.payload):
            if record.sent and isinstance(report, RtcpSrPacket):
                sent[middle_32(report.sender_info.ntp_timestamp)] = record.t
                while len(sent) > REMEMBERED:
                    sent.popitem(last=False)
            if record.sent is False:
                for block in report.reports:
                    if block.lsr == 0:
                        continue
                    left = sent.get(block.lsr)
                    dlsr = block.dlsr / 65536
                    out.append(RoundTrip(
                        record.t, report.ssrc, block.ssrc, block.lsr, dlsr,
                        round_trip(ntp_time(record.t), block.lsr, block.dlsr), left,
                        None if left is None else record.t - left - dlsr,
                        block.fraction_lost / 256, block.jitter))
    return out
