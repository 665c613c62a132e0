"""A call recorded from one person's sockets: what Wireshark on their machine would capture,
and, beside it, the same call's RTP and RTCP before encryption.

:class:`Capture` is the sans-I/O core. The taps (:mod:`talklab._aiortc.taps`) tell it what
happens on one machine, as plain values with the time it happened:

* :meth:`Capture.wire`: a UDP datagram that left or reached one of the machine's sockets
  (STUN, DTLS, SRTP, SRTCP, TURN), with its real addresses and ports;
* :meth:`Capture.plain`: an RTP or RTCP packet before SRTP protected it, or after SRTP
  unprotected it, with the addresses of the call's selected candidate pair;
* :meth:`Capture.handshake_started` and :meth:`Capture.handshake_ended`: a call's DTLS
  handshake began; it ended, with its TLS key-log line if it got that far.

It writes them, as they come, to one or two :class:`~talklab.media_plane.pcapng.Writer`. The
one rule it keeps: **the key log comes before the records it decrypts.** A handshake's
encrypted Finished message can reach the machine before the machine's own DTLS has derived the
keys, so from the moment a handshake starts until every handshake in progress has ended, the
wire's datagrams are held (at most :data:`MAX_HELD`; beyond that they are written without the
key, and :attr:`Capture.unkeyed` says so), the key-log line is written, then what was held, in
order. Nothing else is kept: memory stays bounded whatever the call's length.

Tested in tests/test_capture.py (datagrams held while a handshake runs and written after its key, a
bounded hold, one capture per machine, a real call recorded).
"""

from __future__ import annotations

import os
import pathlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from talklab.media_plane import pcapng
from talklab.media_plane.demux import classify

Address = tuple[str, int]
MAX_HELD = 512  # datagrams held while a handshake is in progress (a handshake needs ~10)


class PacketSink(Protocol):
    """Where a capture writes (a :class:`~talklab.media_plane.pcapng.Writer`)."""

    def packet(self, interface_name: str, unix_time: float, source: Address,
               destination: Address, payload: bytes, sent: bool | None = None) -> None: ...

    def secrets(self, key_log: bytes) -> None: ...


@dataclass(frozen=True)
class Datagram:
    """One datagram held until a handshake's key is known."""

    t: float
    source: Address
    destination: Address
    data: bytes
    sent: bool


@dataclass
class Capture:
    """Records one machine's side of its calls into ``wire`` (and their RTP and RTCP in the
    clear into ``plain``, if given). ``interface`` names the machine in Wireshark."""

    wire_sink: PacketSink
    plain_sink: PacketSink | None = None
    interface: str = "talklab"
    counts: Counter[str] = field(default_factory=Counter)  # wire datagrams by protocol
    plain_count: int = 0
    key_logs: int = 0  # handshakes whose keys were written
    unkeyed: int = 0  # times datagrams had to be written before their key (held too many)
    _handshakes: set[object] = field(default_factory=set)
    _held: list[Datagram] = field(default_factory=list)

    def wire(self, t: float, source: Address, destination: Address, data: bytes,
             sent: bool) -> None:
        """A datagram on the wire, from ``source`` to ``destination`` at ``t`` (Unix time),
        ``sent`` by this machine or received."""
        self.counts[classify(data)] += 1
        if self._handshakes:
            self._held.append(Datagram(t, source, destination, bytes(data), sent))
            if len(self._held) > MAX_HELD:
                self.unkeyed += 1
                self._release()
            return
        self.wire_sink.packet(self.interface, t, source, destination, data, sent)

    def plain(self, t: float, source: Address, destination: Address, data: bytes,
              sent: bool) -> None:
        """An RTP or RTCP packet in the clear (before protection, or after unprotection)."""
        if self.plain_sink is not None:
            self.plain_count += 1
            self.plain_sink.packet(self.interface, t, source, destination, data, sent)

    def handshake_started(self, call: object) -> None:
        """A DTLS handshake began (``call``: anything that names it, the same at its end)."""
        self._handshakes.add(call)

    def handshake_ended(self, call: object, key_log: bytes | None) -> None:
        """It ended: ``key_log`` is its ``CLIENT_RANDOM`` line (None if it failed before
        the keys existed)."""
        if key_log:
            self.wire_sink.secrets(key_log)
            self.key_logs += 1
        self._handshakes.discard(call)
        if not self._handshakes:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, []
        for d in held:
            self.wire_sink.packet(self.interface, d.t, d.source, d.destination, d.data, d.sent)

    def close(self) -> None:
        """Write whatever is still held (a handshake that never ended)."""
        self._handshakes.clear()
        self._release()


def plaintext_path(path: pathlib.Path) -> pathlib.Path:
    """Where the clear RTP and RTCP of a capture to ``path`` go: ``call.pcapng`` ->
    ``call.rtp.pcapng``."""
    return path.with_name(path.name.removesuffix(".pcapng") + ".rtp.pcapng")


class CaptureFiles:
    """A :class:`Capture` of ``host`` (anything with a ``tap`` slot: a
    :class:`talklab.nat.Host`) written to ``path`` and :func:`plaintext_path` as it goes.
    :meth:`close` stops listening and closes both files (twice is harmless)."""

    def __init__(self, host: Any, path: str | os.PathLike[str], name: str) -> None:
        if getattr(host, "tap", None) is not None:
            raise RuntimeError(f"{name}'s machine is already being captured: one capture per "
                               "machine (close the other first)")
        self.path = pathlib.Path(path)
        if self.path.suffix != ".pcapng":
            raise ValueError(f"a capture is a .pcapng file (Wireshark's format), got {path!r}")
        self.plaintext_path = plaintext_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._files = [open(self.path, "wb"), open(self.plaintext_path, "wb")]  # noqa: SIM115
        comment = f"talklab: {name}'s sockets"
        self.capture = Capture(pcapng.Writer(self._files[0], comment),
                               pcapng.Writer(self._files[1], comment + ", RTP and RTCP in the "
                                             "clear (before SRTP protects, after it unprotects)"),
                               interface=name)
        self.host, self.name, self.closed = host, name, False
        host.tap = self.capture

    def records(self, clear: bool = False, limit: int = 100_000) -> list[pcapng.Record]:
        """The datagrams written so far (``clear``: the RTP and RTCP file), read back from the
        file (at most ``limit``)."""
        if not self.closed:
            for written in self._files:
                written.flush()
        with open(self.plaintext_path if clear else self.path, "rb") as file:
            return [r for r in pcapng.read(file, limit) if isinstance(r, pcapng.Record)]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.host.tap is self.capture:
            self.host.tap = None
        self.capture.close()
        for file in self._files:
            file.close()
