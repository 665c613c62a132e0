"""pcapng, the file format Wireshark writes and reads (IETF draft "PCAP Next Generation
(pcapng) Capture File Format", draft-ietf-opsawg-pcapng), written from its specification.

A pcapng file is a sequence of blocks, each ``type, total length, body, total length`` (the
length twice, so a reader can walk backwards), its body padded to 32 bits. talklab writes four
kinds, in this order:

* a **Section Header Block**: the byte order (``0x1A2B3C4D`` as read) and version 1.0;
* one **Interface Description Block** per socket address talklab records: link type 101
  (``LINKTYPE_RAW``: each packet starts with its IP header), timestamps in microseconds;
* **Decryption Secrets Blocks**, each carrying TLS key-log lines (NSS's format,
  ``CLIENT_RANDOM <client random> <master secret>``), written before the records they decrypt:
  Wireshark then shows a DTLS handshake decrypted with nothing else given to it;
* **Enhanced Packet Blocks**: one datagram each, as an IPv4 (or IPv6) packet with a UDP header
  built from the real addresses and ports, with the time it was sent or received.

No maintained Python library writes a Decryption Secrets Block, and the format is small, so it
is written here: :class:`Writer` streams blocks to a file as they come (nothing is kept in
memory but the file's own buffer).

Tested in tests/test_capture.py (blocks padded and framed; tshark reads the packets, their
checksums and times, and decrypts a real call's DTLS with the key log inside).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

SECTION_HEADER, INTERFACE, ENHANCED_PACKET, DECRYPTION_SECRETS = 0x0A0D0D0A, 1, 6, 0x0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_RAW = 101  # the packet is an IP packet (v4 or v6, told by its first nibble)
TLS_KEY_LOG = 0x544C534B  # "TLSK": a Decryption Secrets Block of NSS key-log lines
OPT_END, OPT_COMMENT, IF_NAME, IF_TSRESOL, EPB_FLAGS = 0, 1, 2, 9, 2
INBOUND, OUTBOUND = 1, 2  # epb_flags' direction bits
UDP = 17


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(*options: bytes) -> bytes:
    return b"".join(options) + struct.pack("<HH", OPT_END, 0) if options else b""


def block(kind: int, body: bytes) -> bytes:
    """One block: its type, its total length, its (padded) body, its total length again."""
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def section_header(comment: str = "") -> bytes:
    """The Section Header Block that opens the file (section length unknown: -1)."""
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    if comment:
        body += _options(_option(OPT_COMMENT, comment.encode()))
    return block(SECTION_HEADER, body)


def interface(name: str) -> bytes:
    """An Interface Description Block for raw IP packets, timestamps in microseconds
    (``if_tsresol`` 6), named ``name`` (shown by Wireshark as the interface)."""
    body = struct.pack("<HHI", LINKTYPE_RAW, 0, 0)
    body += _options(_option(IF_NAME, name.encode()), _option(IF_TSRESOL, bytes([6])))
    return block(INTERFACE, body)


def decryption_secrets(key_log: bytes) -> bytes:
    """A Decryption Secrets Block of TLS key-log lines (DTLS uses TLS's)."""
    body = struct.pack("<II", TLS_KEY_LOG, len(key_log)) + _pad(key_log)
    return block(DECRYPTION_SECRETS, body)


def enhanced_packet(interface_id: int, unix_time: float, packet: bytes,
                    comment: str = "", outbound: bool | None = None) -> bytes:
    """An Enhanced Packet Block: ``packet`` (an IP packet) seen on interface ``interface_id``
    at ``unix_time`` (seconds since 1970, kept to the microsecond), sent (``outbound``) or
    received by the machine (its ``epb_flags``; Wireshark shows it as the direction)."""
    micros = round(unix_time * 1_000_000)
    body = struct.pack("<IIIII", interface_id, micros >> 32, micros & 0xFFFF_FFFF,
                       len(packet), len(packet)) + _pad(packet)
    options = []
    if outbound is not None:
        options.append(_option(EPB_FLAGS, struct.pack("<I", OUTBOUND if outbound else INBOUND)))
    if comment:
        options.append(_option(OPT_COMMENT, comment.encode()))
    return block(ENHANCED_PACKET, body + _options(*options))


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of
    16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_packet(source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> bytes:
    """``payload`` as the IP packet that carried it: an IPv4 (or IPv6) header and a UDP header
    with the addresses and ports of ``source`` and ``destination`` and correct checksums."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        raise ValueError(f"one packet cannot go from {src} to {dst}: the IP versions differ")
    length = 8 + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"a UDP datagram holds at most 65,527 bytes, got {len(payload)}")
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, UDP, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", length, UDP)
    udp = struct.pack("!HHHH", source[1], destination[1], length, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF  # (0 would mean "no checksum")
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    if src.version == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, UDP, 0,
                             src.packed, dst.packed)
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    else:
        header = struct.pack("!IHBB16s16s", 6 << 28, length, UDP, 64, src.packed, dst.packed)
    return header + udp


class Writer:
    """A pcapng file written as it goes: :meth:`packet` and :meth:`secrets` append blocks to
    ``file`` (opened ``"wb"``; the caller closes it). Interfaces are declared on first use,
    one per name."""

    def __init__(self, file: BinaryIO, comment: str = "") -> None:
        self.file = file
        self.interfaces: dict[str, int] = {}
        self.packets = 0
        self.bytes = 0
        self._write(section_header(comment))

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.bytes += len(data)

    def interface_id(self, name: str) -> int:
        if name not in self.interfaces:
            self.interfaces[name] = len(self.interfaces)
            self._write(interface(name))
        return self.interfaces[name]

    def packet(self, interface_name: str, unix_time: float, source: tuple[str, int],
               destination: tuple[str, int], payload: bytes, sent: bool | None = None) -> None:
        """One UDP datagram from ``source`` to ``destination``, seen at ``unix_time``, sent
        by the machine or received (``sent``; None: not said)."""
        packet = udp_packet(source, destination, payload)
        self._write(enhanced_packet(self.interface_id(interface_name), unix_time, packet,
                                    outbound=sent))
        self.packets += 1

    def secrets(self, key_log: bytes) -> None:
        """TLS key-log lines, for the DTLS records that follow."""
        self._write(decryption_secrets(key_log))


# -- reading back what talklab wrote -------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """A UDP datagram read from a pcapng file (an Enhanced Packet Block of raw IP)."""

    t: float  # Unix time
    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes
    sent: bool | None  # by the machine captured (None: the file does not say)
    interface: str


def _udp_of(packet: bytes) -> tuple[tuple[str, int], tuple[str, int], bytes] | None:
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        header = (packet[0] & 0x0F) * 4
        if len(packet) < header + 8 or packet[9] != UDP:
            return None
        src, dst = ipaddress.ip_address(packet[12:16]), ipaddress.ip_address(packet[16:20])
    elif version == 6:
        header = 40
        if len(packet) < header + 8 or packet[6] != UDP:
            return None
        src, dst = ipaddress.ip_address(packet[8:24]), ipaddress.ip_address(packet[24:40])
    else:
        return None
    sport, dport, length = struct.unpack("!HHH", packet[header:header + 6])
    return (str(src), sport), (str(dst), dport), packet[header + 8:header + length]


def _flags(options: bytes) -> bool | None:
    while len(options) >= 4:
        code, length = struct.unpack("<HH", options[:4])
        if code == OPT_END:
            break
        if code == EPB_FLAGS and length == 4:
            direction = struct.unpack("<I", options[4:8])[0] & 3
            return {OUTBOUND: True, INBOUND: False}.get(direction)
        options = options[4 + length + (-length % 4):]
    return None


def read(file: BinaryIO, limit: int = 1_000_000) -> Iterator[Record | bytes]:
    """The UDP datagrams (:class:`Record`) and the key logs (``bytes``) of a little-endian
    pcapng file of raw IP, such as :class:`Writer` makes, in file order, at most ``limit``
    (a file that is not one raises :class:`ValueError`)."""
    interfaces: list[str] = []
    count = 0
    while count < limit:
        head = file.read(8)
        if not head:
            return
        if len(head) < 8:
            raise ValueError("a pcapng file ends in the middle of a block")
        kind, length = struct.unpack("<II", head)
        if length < 12 or length % 4:
            raise ValueError(f"a pcapng block cannot be {length} bytes long")
        body = file.read(length - 12)
        file.read(4)
        if kind == SECTION_HEADER and body[:4] != struct.pack("<I", BYTE_ORDER_MAGIC):
            raise ValueError("not a little-endian pcapng file")
        if kind == INTERFACE:
            interfaces.append(_interface_name(body[8:]) or f"interface {len(interfaces)}")
        elif kind == DECRYPTION_SECRETS:
            size = struct.unpack("<I", body[4:8])[0]
            yield body[8:8 + size]
            count += 1
        elif kind == ENHANCED_PACKET:
            interface, high, low, captured, _ = struct.unpack("<IIIII", body[:20])
            udp = _udp_of(body[20:20 + captured])
            if udp is not None:
                name = interfaces[interface] if interface < len(interfaces) else "?"
                yield Record(((high << 32) | low) / 1_000_000, udp[0], udp[1], udp[2],
                             _flags(body[20 + captured + (-captured % 4):]), name)
                count += 1


def _interface_name(options: bytes) -> str:
    while len(options) >= 4:
        code, length = struct.unpack("<HH", options[:4])
        if code == OPT_END:
            break
        if code == IF_NAME:
            return options[4:4 + length].decode(errors="replace")
        options = options[4 + length + (-length % 4):]
    return ""
