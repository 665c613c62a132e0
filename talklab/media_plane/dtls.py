"""The DTLS handshake of a call, as the wire shows it, and what it agreed.

DTLS (RFC 6347, version 1.2) is TLS over datagrams. Before any audio, the two ends of a call
run its handshake on the same five-tuple as ICE, and it does three things for WebRTC:

1. it **authenticates** each end: each sends its certificate, whose hash must equal the
   ``a=fingerprint`` of its SDP (RFC 8122, section 5): a description changed on its way makes
   the call fail (:mod:`talklab._aiortc.dtls`);
2. it **agrees a cipher suite** and, through the ``use_srtp`` extension (RFC 5764, section 4.1),
   an **SRTP protection profile**;
3. it **derives the SRTP keys**: both ends export the same keying material from the handshake
   (RFC 5705, label ``EXTRACTOR-dtls_srtp``) and split it, RFC 5764 section 4.2: client key,
   server key, client salt, server salt (:func:`split_keying_material`).

Which end is the DTLS client is settled by the SDP's ``a=setup``: the offer says ``actpass``
(either), the answer ``active`` (I will be the client), so the answerer says ClientHello.

:func:`records` reads a datagram's DTLS records (the 13-byte record header, and the handshake
message type of each plaintext handshake record); :func:`flights` groups a capture's into the
handshake's flights: who sent what, in order. Encrypted records (epoch 1 and later: the
Finished messages, alerts) are named as what they must be; Wireshark, given the key log,
decrypts them.

Tested in tests/test_capture.py (the handshake of a real call, its flights in order, its keys
split).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from talklab.media_plane.demux import DTLS, classify
from talklab.media_plane.pcapng import Record

CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
HANDSHAKE_TYPES = {0: "HelloRequest", 1: "ClientHello", 2: "ServerHello",
                   3: "HelloVerifyRequest", 11: "Certificate", 12: "ServerKeyExchange",
                   13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify",
                   16: "ClientKeyExchange", 20: "Finished"}
# RFC 5764 section 4.1.2 and RFC 7714 section 14.2: (key, salt) lengths in bytes
SRTP_PROFILES = {"SRTP_AES128_CM_SHA1_80": (16, 14), "SRTP_AES128_CM_SHA1_32": (16, 14),
                 "SRTP_AEAD_AES_128_GCM": (16, 12), "SRTP_AEAD_AES_256_GCM": (32, 12)}


@dataclass(frozen=True)
class DtlsRecord:
    """One record: its content type, its epoch (0 in the clear; 1 once ChangeCipherSpec has
    switched to the agreed keys) and what it carries."""

    content: str
    epoch: int
    sequence: int
    length: int
    message: str  # the handshake message (or "encrypted Finished", "encrypted alert", ...)


def records(datagram: bytes) -> list[DtlsRecord]:
    """The DTLS records of one datagram (RFC 6347, section 4.1), [] if it is not DTLS."""
    out: list[DtlsRecord] = []
    at = 0
    while classify(datagram[at:]) == DTLS and len(datagram) - at >= 13:
        content, _, epoch, seq_high, seq_low, length = struct.unpack(
            "!BHHHIH", datagram[at:at + 13])
        body = datagram[at + 13:at + 13 + length]
        name = CONTENT_TYPES.get(content, f"content type {content}")
        if content == 22 and epoch == 0 and body:
            message = HANDSHAKE_TYPES.get(body[0], f"handshake type {body[0]}")
        elif content == 22:
            message = "Finished (encrypted)"  # the first handshake message under the new keys
        elif content == 21:
            message = "Alert" + (" (encrypted)" if epoch else "")
        elif content == 23:
            message = "application data (encrypted)"
        else:
            message = name
        out.append(DtlsRecord(name, epoch, (seq_high << 32) | seq_low, length, message))
        at += 13 + length
    return out


@dataclass(frozen=True)
class Flight:
    """The handshake messages of one datagram, from ``source`` to ``destination`` at ``t``."""

    t: float
    source: tuple[str, int]
    destination: tuple[str, int]
    messages: tuple[str, ...]  # in order; a message fragmented over several records, once


def flights(wire: Iterable[Record]) -> list[Flight]:
    """Every datagram of a capture that carried DTLS, with the messages it carried."""
    out = []
    for record in wire:
        found = records(record.payload)
        if found:
            names: list[str] = []
            for r in found:
                if not names or names[-1] != r.message:  # (a Certificate in fragments)
                    names.append(r.message)
            out.append(Flight(record.t, record.source, record.destination, tuple(names)))
    return out


@dataclass(frozen=True)
class SrtpKeys:
    """RFC 5764 section 4.2: the exported keying material, split."""

    client_key: bytes
    server_key: bytes
    client_salt: bytes
    server_salt: bytes


def split_keying_material(profile: str, material: bytes) -> SrtpKeys:
    """Split what the DTLS exporter gave (``2 * (key + salt)`` bytes) for ``profile``."""
    if profile not in SRTP_PROFILES:
        raise ValueError(f"unknown SRTP protection profile {profile!r} (known: "
                         f"{', '.join(SRTP_PROFILES)})")
    key, salt = SRTP_PROFILES[profile]
    if len(material) != 2 * (key + salt):
        raise ValueError(f"{profile} needs {2 * (key + salt)} bytes of keying material, "
                         f"got {len(material)}")
    return SrtpKeys(material[:key], material[key:2 * key], material[2 * key:2 * key + salt],
                    material[2 * key + salt:])


@dataclass(frozen=True)
class DtlsSession:
    """What one end's DTLS handshake agreed (read from its connection once it completed)."""

    role: str  # "client" (said ClientHello: the answerer) or "server"
    version: str  # "DTLSv1.2"
    cipher: str  # OpenSSL's name, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256"
    srtp_profile: str  # e.g. "SRTP_AEAD_AES_256_GCM"
    local_fingerprint: str  # sha-256 of our certificate, as our SDP's a=fingerprint says it
    remote_fingerprint: str  # sha-256 of the certificate the other end presented
    keys: SrtpKeys
