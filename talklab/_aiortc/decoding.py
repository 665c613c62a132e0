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

Nothing of aiortc's is copied: while labs run, the ``threading`` that ``aiortc.rtcrtpreceiver``
sees is :data:`THREADING`, the same module except that a ``Thread`` asked for with a
:class:`LoopDecoder` as its input queue is that decoder. ``RTCRtpReceiver.receive`` is aiortc's
own, called with a :class:`LoopDecoder` in place of the receiver's input queue (for a lab's
audio): it makes its "thread" with the decoder's arguments (the track's queue, the error flag),
starts it (nothing to start) and registers the receiver, as it always does.

Video receivers, and receivers outside any lab, keep aiortc's thread.

Tested in tests/test_aiortc_internals.py (the decoder thread is made as aiortc's unless it is a
LoopDecoder; a lab's audio receiver has the LoopDecoder) and tests/test_aiortc_adjustments.py (a
lab's audio decoded on the loop is still heard, and ends as aiortc's thread ends it).
"""

from __future__ import annotations

import logging
import threading
import types
from typing import Any

import aiortc.rtcrtpreceiver
import av
from aiortc.codecs import get_decoder
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from talklab._aiortc.registry import SETTINGS, patch, stock

logger = logging.getLogger("aiortc.rtcrtpreceiver")


class LoopDecoder:
    """Stands in for both the decoder thread and its input queue of one receiver: ``put`` a
    ``(codec, encoded_frame)`` and the decoded frames are on the track's queue when it returns;
    ``put(None)`` ends the track, as the thread does. It learns the track's queue and the error
    flag when aiortc makes its thread (:meth:`bind`)."""

    def __init__(self, output: Any = None, error: threading.Event | None = None) -> None:
        self._output = output
        self._error = error
        self._codec_name: str | None = None
        self._decoder: Any = None
        self.frames = 0

    def bind(self, output: Any, error: threading.Event) -> LoopDecoder:
        self._output, self._error = output, error
        return self

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
            assert self._error is not None
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


class _Threading(types.ModuleType):
    """``threading`` as ``aiortc.rtcrtpreceiver`` sees it while labs run."""

    def __init__(self) -> None:
        super().__init__("threading", threading.__doc__)

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)

    @staticmethod
    def Thread(*args: Any, **kwargs: Any) -> Any:
        """aiortc's decoder thread (``args=(loop, input_q, output_q, decode_error)``, the
        parameters of ``decoder_worker``): the input queue itself when it is a LoopDecoder."""
        work = kwargs.get("args", ())
        if len(work) == 4 and isinstance(work[1], LoopDecoder):
            _, decoder, output, error = work
            return decoder.bind(output, error)
        return threading.Thread(*args, **kwargs)


THREADING = _Threading()
patch(aiortc.rtcrtpreceiver, "threading")(THREADING)  # type: ignore[arg-type]


@patch(RTCRtpReceiver, "receive")
async def receive(self: RTCRtpReceiver, parameters: Any) -> None:
    """aiortc's ``RTCRtpReceiver.receive``, which starts the receiver's decoder: for a lab's
    audio receiver, with a :class:`LoopDecoder` as its input queue (so that it is the thread)."""
    settings = SETTINGS.get()
    started: bool = self._RTCRtpReceiver__started  # type: ignore[attr-defined]
    if (settings is not None and settings.decoding == "loop" and not started
            and getattr(self.track, "kind", None) == "audio"):
        self._RTCRtpReceiver__decoder_queue = LoopDecoder()  # type: ignore[attr-defined]
    await stock(RTCRtpReceiver, "receive")(self, parameters)
