"""One Opus encoder per microphone, shared by every connection that sends it.

In the seed's full mesh, each browser sends its voice to n-1 others and, by default, encodes it
n-1 times (one encoder per ``RTCRtpSender``). That is the first reason a mesh tops out at a few
people. aiortc lets a track hand its sender *already encoded* ``av.Packet`` objects, which the
sender only packetises (``Encoder.pack``) instead of encoding. :class:`OpusFanout` encodes each
20 ms frame once and gives the same packet to every subscribed :class:`EncodedAudioTrack`.

What it costs: every listener gets the same bitrate (no per-link adaptation) and no RFC 6464
audio-level header extension. What it saves: (n-1) x the encoding, and aiortc's per-frame
thread-pool hop and per-sample Python loop for audio levels.

Tested in tests/test_topologies.py (in a mesh, an SFU and an MCU, each person's voice goes through
its one OpusFanout, whose frames_encoded the load counts, and everyone else hears it).
"""

from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talklab.browser.media import SAMPLE_RATE
from talklab.tasks import cancel_and_wait

BITRATE = 32_000  # Opus voice quality; a steady tone needs far less
QUEUE_FRAMES = 10  # 200 ms: a sender further behind than that drops the oldest


class EncodedAudioTrack(MediaStreamTrack):
    """What one ``RTCRtpSender`` reads: Opus packets from a shared :class:`OpusFanout`."""

    kind = "audio"

    def __init__(self, fanout: OpusFanout) -> None:
        super().__init__()
        self._fanout = fanout
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(QUEUE_FRAMES)

    def put(self, packet: av.Packet | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._fanout.unsubscribe(self)
        super().stop()


class OpusFanout:
    """Reads a source track, encodes each frame once, hands packets to every subscriber."""

    def __init__(self, source: MediaStreamTrack, bitrate: int = BITRATE) -> None:
        self.source = source
        self.bitrate = bitrate
        self._subscribers: list[EncodedAudioTrack] = []
        self._task: asyncio.Task | None = None
        self.frames_encoded = 0

    def subscribe(self) -> EncodedAudioTrack:
        track = EncodedAudioTrack(self)
        self._subscribers.append(track)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        return track

    def unsubscribe(self, track: EncodedAudioTrack) -> None:
        if track in self._subscribers:
            self._subscribers.remove(track)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _encoder(self) -> av.AudioCodecContext:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = self.bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
        codec.options = {"application": "voip"}
        return codec

    async def _run(self) -> None:
        codec = self._encoder()
        try:
            while self._subscribers:
                try:
                    frame = await self.source.recv()
                except MediaStreamError:
                    break
                assert isinstance(frame, av.AudioFrame)
                for packet in codec.encode(frame):
                    self.frames_encoded += 1
                    for track in self._subscribers:
                        track.put(packet)
        finally:
            for track in list(self._subscribers):
                track.put(None)

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for track in list(self._subscribers):
            track.stop()
