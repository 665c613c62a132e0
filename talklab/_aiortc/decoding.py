"""Adjustment 7: a lab's audio is decoded on the event loop, not on a thread per receiver.

aiortc starts one decoder thread for every ``RTCRtpReceiver``: 30 of them in a room of six,
each woken 50 times a second. Each frame crosses to the thread through a ``queue.Queue`` and
back through ``asyncio.run_coroutine_threadsafe``, so every 20 ms of every stream costs two
wake-ups, a coroutine, a future and a write to the loop's self-pipe, and the threads contend
with the loop for the GIL. A browser has one process per tab for that work; a lab has all its
people in one Python process, where decoding an Opus frame (a few tens of microseconds of C)
is cheaper than handing it over. So a lab's audio receivers decode each frame where it was
reassembled, in the loop, and put it straight on the track's queue: the frames, their order and
their timestamps are exactly aiortc's, only the thread is gone.

Video receivers, and receivers outside any lab, keep aiortc's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import av
from aiortc.codecs import get_decoder
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from . import SETTINGS, patch, stock

logger = logging.getLogger("aiortc.rtcrtpreceiver")


class LoopDecoder:
    """Stands in for both the decoder thread and its input queue of one receiver: ``put`` a
    ``(codec, encoded_frame)`` and the decoded frames are on the track's queue when it returns;
    ``put(None)`` ends the track, as the thread does."""

    def __init__(self, output: asyncio.Queue[Any], error: threading.Event) -> None:
        self._output = output
        self._error = error
        self._codec_name: str | None = None
        self._decoder: Any = None
        self.frames = 0

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:
            self._output.put_nowait(None)  # the track ends (aiortc's thread does the same)
            self._decoder = None
            return
        codec, encoded_frame = task
        if codec.name != self._codec_name:
            self._decoder, self._codec_name = get_decoder(codec), codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            logger.warning("RTCRtpReceiver(audio) failed to decode %s frame: %s",
                           codec.name, exc)
            self._error.set()
            return
        for frame in frames:
            self.frames += 1
            self._output.put_nowait(frame)

    # -- what RTCRtpReceiver asks of its "thread" ---------------------------------------------
    def start(self) -> None:
        """Nothing to start: decoding happens in :meth:`put`."""

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for: :meth:`put` has finished before it returns."""


@patch(RTCRtpReceiver, "receive")
async def receive(self: RTCRtpReceiver, parameters: Any) -> None:
    """``RTCRtpReceiver.receive`` (aiortc 1.16.0) with a :class:`LoopDecoder` where the
    decoder thread would start, for a lab's audio; otherwise aiortc's own."""
    r = "_RTCRtpReceiver__"
    settings = SETTINGS.get()
    if (settings is None or settings.decoding != "loop" or getattr(self, r + "kind") != "audio"
            or getattr(self, r + "started")):
        await stock(RTCRtpReceiver, "receive")(self, parameters)
        return
    codecs, rtx = getattr(self, r + "codecs"), getattr(self, r + "rtx_ssrc")
    for codec in parameters.codecs:
        codecs[codec.payloadType] = codec
    for encoding in parameters.encodings:
        if encoding.rtx:
            rtx[encoding.rtx.ssrc] = encoding.ssrc
    track = self._track
    assert track is not None  # (made in __init__, with the receiver)
    decoder = LoopDecoder(track._queue, getattr(self, r + "decoder_error"))
    setattr(self, r + "decoder_queue", decoder)
    setattr(self, r + "decoder_thread", decoder)
    getattr(self, r + "transport")._register_rtp_receiver(self, parameters)
    setattr(self, r + "rtcp_task", asyncio.ensure_future(self._run_rtcp()))
    setattr(self, r + "started", True)
