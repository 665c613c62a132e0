"""An offer or an answer, line by line: what each line of its SDP says (notebook 03).

The seed's offer is "Hey, I want to talk to you. Here's my connection info". That info is an
SDP (RFC 8866; its WebRTC use: RFC 8829): plain text, one ``type=value`` per line. A WebRTC
description says four things: *what* media (``m=``, ``a=rtpmap``), *how to check* routes (ICE's
``a=ice-ufrag`` and ``a=ice-pwd``), *how to secure* them (DTLS's ``a=fingerprint`` and
``a=setup``), and *where* to send (``a=candidate``). :func:`explain` gives each line its
meaning; a trickling browser sends the candidate lines as messages of their own instead.

Tested in tests/test_exercises_03.py (a real offer, explained line by line as notebook 03 shows it).
"""

from __future__ import annotations

# (how the line starts, what it says), the first that matches wins: most specific first
MEANINGS: tuple[tuple[str, str], ...] = (
    ("v=", "SDP's version: always 0"),
    ("o=", "origin: a session id and version (the address means nothing in WebRTC)"),
    ("s=", "session name: none"),
    ("t=", "timing: the session has no set start or end"),
    ("a=group:BUNDLE", "BUNDLE: all media below share one transport, one ICE connection and "
                       "one port"),
    ("a=msid-semantic", "streams are named with a=msid lines below"),
    ("m=audio", "one audio stream: port, profile (RTP secured by DTLS-SRTP) and the payload "
                "types it may carry (one number per codec, named by a=rtpmap below), most "
                "wanted first"),
    ("c=", "connection address: the default candidate's (ICE finds the one really used)"),
    ("a=sendrecv", "this side sends and receives audio"),
    ("a=sendonly", "this side only sends"),
    ("a=recvonly", "this side only receives"),
    ("a=extmap", "an RTP header extension (an extra field a packet may carry: the media id, "
                 "the audio level) and the number that marks it"),
    ("a=mid", "this media section's id: each trickled candidate names it (sdpMid)"),
    ("a=msid", "the MediaStream and the track carrying the voice (the seed's localStream)"),
    ("a=rtcp-mux", "RTP and its control protocol RTCP share one port"),
    ("a=rtcp:", "where RTCP would go without rtcp-mux (port 9: nowhere)"),
    ("a=ssrc", "the SSRC, the number marking every RTP packet of this voice, and its CNAME "
               "(one name per endpoint, tying its streams together)"),
    ("a=rtpmap", "payload type (the number a packet carries to say its codec) → codec / "
                 "clock rate / channels: opus is WebRTC's voice codec; PCMU, PCMA and G722 "
                 "are telephone codecs offered as fallbacks"),
    ("a=fmtp", "parameters of a codec"),
    ("a=candidate", "a route to this side: foundation, component, protocol, priority, "
                    "address, port, type"),
    ("a=end-of-candidates", "no more candidates will follow"),
    ("a=ice-ufrag", "ICE username fragment: every check names it"),
    ("a=ice-pwd", "ICE password: every check is signed with it (its MESSAGE-INTEGRITY "
                  "attribute, a keyed hash only someone with the password can make)"),
    ("a=fingerprint", "hash of this side's DTLS certificate: the key exchange is pinned to it"),
    ("a=setup", "who starts DTLS: actpass (either, in an offer), active (starts) or passive"),
)
TRICKLED = ("a=candidate", "a=end-of-candidates")


def meaning(line: str) -> str:
    """What one SDP line says."""
    for start, said in MEANINGS:
        if line.startswith(start):
            return said
    return "(another attribute)"


def explain(sdp: str, width: int = 60, trickle: bool = True) -> list[dict]:
    """One row per line: the line (cut to ``width`` characters), what it says, and how it
    travels: in the SDP of the description, or (``trickle``) trickled, as a
    ``webrtc-ice-candidate`` message of its own."""
    rows = []
    for line in sdp.splitlines():
        if not line:
            continue
        shown = line if len(line) <= width else line[:width - 1] + "…"
        rows.append({"line": shown, "meaning": meaning(line),
                     "travels": "trickled" if trickle and line.startswith(TRICKLED)
                     else "in the SDP"})
    return rows
