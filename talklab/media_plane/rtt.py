"""The round-trip time of RTCP (RFC 3550, section 6.4.1), from a sender report and the
receiver report that answers it.

A sender report (SR) carries the 64-bit NTP time at which it was sent. The other end keeps the
middle 32 bits of it (the "compact" or NTP short format: 16 bits of seconds, 16 of fraction)
and, in its next receiver report (RR) block about that stream, echoes it as LSR ("last SR")
along with DLSR, how long it held it (in 1/65536 s). When that RR arrives at time A (same short
format)::

    round trip = A - LSR - DLSR

No clocks need to agree: both ``A`` and ``LSR`` are the first sender's. An LSR of 0 means no SR
was received yet: there is no round trip to compute.

Tested in tests/test_capture.py (the formula on known times, an RR before any SR, a negative
result).
"""

from __future__ import annotations

NTP_EPOCH_OFFSET = 2_208_988_800  # s from 1900-01-01 (NTP's epoch) to 1970-01-01 (Unix's)
SHORT_UNIT = 1 / 65536  # s: one unit of the NTP short format (and of DLSR)


def ntp_time(unix_seconds: float) -> int:
    """The 64-bit NTP timestamp (32 bits of seconds since 1900, 32 of fraction) of a Unix time."""
    seconds = unix_seconds + NTP_EPOCH_OFFSET
    whole = int(seconds)
    return (whole << 32) | int((seconds - whole) * (1 << 32))


def middle_32(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp: what an RR's LSR field echoes."""
    return (ntp >> 16) & 0xFFFF_FFFF


def round_trip(arrival_ntp: int, lsr: int, dlsr: int) -> float | None:
    """RFC 3550's round-trip time in seconds: an RR block with ``lsr`` and ``dlsr`` arrived at
    NTP time ``arrival_ntp`` (64 bits, the receiver's own clock). None when the block reports
    no SR yet (LSR 0). The subtraction is modulo 2^32, as the short format wraps every 18 h."""
    if lsr == 0:
        return None
    units = (middle_32(arrival_ntp) - lsr - dlsr) & 0xFFFF_FFFF
    if units >= 1 << 31:  # negative: the other end's DLSR exceeds what really passed
        units -= 1 << 32
    return units * SHORT_UNIT
