"""Notebook 07, the packets of a voice: the teacher's answer key.

Exercise: ``rtp_header`` (checked live by ``check.rtp_header`` on the learner's own capture).
The predictions are answered in PREDICTIONS below.
"""


def rtp_header(packet: bytes) -> dict:
    """The fixed RTP header (RFC 3550, 5.1): byte 0 holds the version in its top two bits;
    byte 1 the marker in its top bit and the payload type in the other seven; then the
    sequence number (2 bytes), the timestamp (4) and the SSRC (4), big-endian."""
    return {
        "version": packet[0] >> 6,
        "marker": packet[1] >> 7,
        "payload_type": packet[1] & 0x7F,
        "sequence": int.from_bytes(packet[2:4], "big"),
        "timestamp": int.from_bytes(packet[4:8], "big"),
        "ssrc": int.from_bytes(packet[8:12], "big"),
    }


PREDICTIONS = {
    # one Opus frame every 20 ms, one packet each
    "packets_a_second": 50,
    # aiortc's SR carries the time of its last RTP packet, and its own figure is smoothed
    "rfc_equals_stats": False,
    # SRTP encrypts the payload only: the RTP header travels in the clear
    "path_reads": "the headers, not the audio",
}
