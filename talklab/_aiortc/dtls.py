"""The DTLS handshake of a lab's calls: told to a capture, and a refused certificate told to
the other end.

WebRTC pins each call's DTLS handshake to the SDP: each side's description carries
``a=fingerprint``, the hash of its certificate, and each side checks the certificate it
receives in the handshake against the fingerprint it was given (RFC 8122, section 5; RFC
8827, section 6.5). That is what makes the signaling server, or anyone who can change a
description on its way, unable to sit in the middle of the call unseen.

aiortc 1.16 checks it (``RTCDtlsTransport._validate_peer_identity``) once its own handshake
has completed, and on a mismatch only marks its transport failed, logged at debug level: the
other end has completed its handshake too and keeps waiting for audio that never comes. A
lab's transport that refuses a certificate closes the DTLS connection at once (a
``close_notify`` alert), so the other end's connection closes too and the call fails on both
ends, and notes why (:func:`refused`), for the link to say so.

Tested in tests/test_capture.py (a call whose answer's fingerprint was changed on the way fails on
both ends, and the lab says the fingerprints did not match).
"""

from __future__ import annotations

from typing import Any

from aiortc.rtcdtlstransport import X509_DIGEST_ALGORITHMS, RTCDtlsTransport, certificate_digest

from talklab._aiortc import taps
from talklab._aiortc.registry import patch, stock
from talklab.media_plane.dtls import SRTP_PROFILES, DtlsSession, split_keying_material

FINGERPRINT_MISMATCH = "fingerprint mismatch"


def _fingerprints_match(dtls: Any, remote: Any) -> bool:
    """aiortc's own rule: at least one fingerprint with a known hash, and every such one
    equal to the digest of the certificate received."""
    certificate = dtls._ssl.get_peer_certificate(as_cryptography=True)
    known = [f for f in remote.fingerprints if f.algorithm.lower() in X509_DIGEST_ALGORITHMS]
    return bool(known) and all(
        f.value.upper() == certificate_digest(certificate, f.algorithm.lower()) for f in known)


def refused(dtls: Any) -> str | None:
    """Why this transport refused the other end after its handshake (None if it did not)."""
    reason: str | None = getattr(dtls, "_talklab_refused", None)
    return reason


def session(dtls: Any) -> DtlsSession | None:
    """What ``dtls``'s handshake agreed, once it completed (None before): its role, version,
    cipher suite, SRTP profile, both certificates' fingerprints, and the SRTP keys exported
    from it again (the exporter gives the same bytes each time: RFC 5705, section 4)."""
    ssl = dtls._ssl
    if ssl is None or not dtls.encrypted:
        return None
    profile = (ssl.get_selected_srtp_profile() or b"").decode()
    if profile not in SRTP_PROFILES:
        return None
    key, salt = SRTP_PROFILES[profile]
    material = ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (key + salt))
    peer = ssl.get_peer_certificate(as_cryptography=True)
    local = next(f.value for f in dtls.getLocalParameters().fingerprints
                 if f.algorithm == "sha-256")
    return DtlsSession(role=dtls._role, version=ssl.get_protocol_version_name(),
                       cipher=ssl.get_cipher_name() or "", srtp_profile=profile,
                       local_fingerprint=local,
                       remote_fingerprint=certificate_digest(peer, "sha-256") if peer else "",
                       keys=split_keying_material(profile, material))


@patch(RTCDtlsTransport, "start")
async def start(self: RTCDtlsTransport, remoteParameters: Any) -> None:
    """The handshake, told to the host's tap as it starts and ends (:mod:`.taps`); a
    certificate that does not match the SDP's fingerprint ends the connection for both."""
    tap = taps.dtls_tap(self)
    if tap is not None:
        tap.handshake_started(self)
    try:
        await stock(RTCDtlsTransport, "start")(self, remoteParameters)
    finally:
        tap = taps.dtls_tap(self)
        if tap is not None:
            tap.handshake_ended(self, taps.key_log_line(self))
    ssl = self._ssl
    if self.state == "failed" and self.encrypted and ssl is not None and \
            not _fingerprints_match(self, remoteParameters):
        self._talklab_refused = FINGERPRINT_MISMATCH  # type: ignore[attr-defined]
        try:
            ssl.shutdown()  # a close_notify alert, flushed to the other end
            await self._write_ssl()
        except Exception:  # (the other end is gone already: there is nobody to tell)
            pass
