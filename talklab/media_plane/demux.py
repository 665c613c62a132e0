"""Which protocol a datagram of a WebRTC call is, from its first byte (RFC 7983, section 7, as
updated by RFC 9443).

A call sends STUN, DTLS, SRTP and SRTCP on one socket to one address (and, relayed, TURN's
ChannelData to the TURN server): the receiver tells them apart by the first byte alone, because
the protocols were chosen (or adjusted) so that their first bytes never overlap::

    0 -   3   STUN (its two top bits are zero, RFC 5389 section 6)
    20 -  63   DTLS (a record's content type: 20-23, and room for more)
    64 -  79   TURN ChannelData (a channel number, 0x4000-0x4FFF, RFC 8656 section 12)
    128 - 191   RTP or RTCP (version 2 in the top two bits); RTCP when the second byte
                (marker and payload type) is 192-223 (RFC 5761, section 4)

aiortc's ``RTCDtlsTransport`` applies the same ranges to what ICE hands it.

Tested in tests/test_capture.py (each range of first bytes, and the datagrams of a real call told
apart).
"""

from __future__ import annotations

STUN, DTLS, CHANNEL_DATA, RTP, RTCP, OTHER = "STUN", "DTLS", "ChannelData", "RTP", "RTCP", "other"
KINDS = (STUN, DTLS, CHANNEL_DATA, RTP, RTCP, OTHER)


def classify(datagram: bytes) -> str:
    """The protocol of ``datagram``, as RFC 7983's demultiplexer decides it (``"other"`` for
    an empty datagram or a first byte no range claims). On the wire RTP and RTCP are SRTP and
    SRTCP: the headers say which, the payload is encrypted."""
    if not datagram:
        return OTHER
    first = datagram[0]
    if first <= 3:
        return STUN
    if 20 <= first <= 63:
        return DTLS
    if 64 <= first <= 79:
        return CHANNEL_DATA
    if 128 <= first <= 191:
        if len(datagram) > 1 and 192 <= datagram[1] <= 223:
            return RTCP
        return RTP
    return OTHER


def unwrap_channel_data(datagram: bytes) -> tuple[int, bytes] | None:
    """``(channel number, the datagram inside)`` of a TURN ChannelData message (RFC 8656,
    section 12.4: a 2-byte channel number, a 2-byte length, the data), or None if it is not
    one or its length field runs past its end."""
    if len(datagram) < 4 or classify(datagram) != CHANNEL_DATA:
        return None
    channel = int.from_bytes(datagram[0:2], "big")
    length = int.from_bytes(datagram[2:4], "big")
    if 4 + length > len(datagram):
        return None
    return channel, datagram[4:4 + length]
