"""Decode a video once, in presentation order, with true timestamps and small frames for scoring.

Frames come out already scaled down (small_frames.py: swscale's area filter in C, through one
scaler kept for the whole stream, and colour conversion in numpy over blocks of frames), so
detectors see small arrays and no full-size RGB copy is made except for the few frames kept as
keyframes. By default decoding runs in a background thread (`prefetch`) and the small frames
are made in the caller's thread, so decoding the next frames overlaps with scaling and scoring
these ones (PyAV releases the GIL while FFmpeg decodes and scales): a pipeline of two threads,
which on two cores costs less CPU than FFmpeg's two frame threads (see `decoding_threads`). Callers
that take no keyframes pass `keep_frames=False`, so no full-size frame outlives the hand-over
it came in (at most a queue of batches is in flight), whatever the caller keeps.

`fast=True` skips H.264/HEVC's in-loop deblocking filter: the frames are slightly blockier, which
costs shot detection nothing on 64 x 36 thumbnails and saves a fifth of the decoding; use it
where no keyframe is taken from the frames. `deblock_references_only=True` skips it on the frames
no other frame is predicted from only (B-frames, mostly): no error carries over to later frames,
the frames skipped are a little blockier, and it saves about an eighth of H.264's decoding and a
sixth of HEVC's; the analysis stage decodes this way. A decoder can start at a keyframe inside the stream
(`seek_s`), for segments of a long video analysed apart.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import av
import numpy as np

from sceneline.schemas import MediaError
from sceneline.transforms.media.small_frames import SmallFrames

# A stream whose packets keep failing is broken beyond use; a few bad packets are survivable.
MAX_CONSECUTIVE_DECODE_ERRORS = 50
# Frame reordering moves times back by a few frames at most. A jump back of more than this is a
# discontinuity (concatenated clips whose timestamps restart, a demuxer that resynced after
# damage): the timeline continues from where it was, so scene times stay ordered.
MAX_BACKWARD_JUMP_S = 1.0
# Decoded frames handed from the background decoder to the caller at a time, and at most this
# many bytes of full-size frames in one hand-over (a 4K frame is 12 MB: a few at a time).
PREFETCH_BATCH_FRAMES = 32
PREFETCH_BATCH_BYTES = 16 << 20
# Frames whose small versions are made together (small_frames.py converts their colours at once);
# the caller sees frames this many at a time, which the detectors batch anyway.
SMALL_BLOCK_FRAMES = 16
# Hand-overs queued ahead of the caller: enough to keep both threads busy, bounded memory.
PREFETCH_QUEUE = 2
# Frames of this many pixels or more (1280 x 720) decode on every core; smaller ones leave a core
# to the scoring thread (decoding_threads).
HD_PIXELS = 1280 * 720


class BestEffortTimestamps:
    """FFmpeg's guess_correct_pts: trust PTS unless it has proved less monotonic than DTS.

    Containers without presentation times (AVI with B-frames) hand out packet-order PTS, which
    run backwards in display order; their DTS, stamped on frames as they leave the decoder,
    stay monotonic. FFmpeg's own players use this heuristic; PyAV does not expose it.
    """

    def __init__(self) -> None:
        self.faulty_pts = 0
        self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


@dataclass
class DecodedFrame:
    index: int  # 0-based, in presentation order, counted from where this decoder started
    time_s: float  # from the presentation timestamp, relative to the video's first frame
    small: np.ndarray  # the detector's input (H x W x C or H x W)
    frame: av.VideoFrame | None  # the decoded frame (None unless `keep_frames`); valid while the iteration is at it
    pts_s: float | None = None  # the raw presentation time in the stream, seconds


class _Decoded(NamedTuple):
    """A frame as the decoder's thread hands it over, before its small version is made."""

    time_s: float
    frame: av.VideoFrame
    pts_s: float | None


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def decoding_threads(requested: int = 0, in_background: bool = True, pixels: int = 0) -> int:
    """FFmpeg's decoding threads for a FrameDecoder of frames of `pixels` (width x height, 0 if not
    known); 0 lets FFmpeg choose. With the decoder in its own thread, the caller's thread makes
    the small frames and scores them. Frame threads cost CPU to hand frames and references
    between them, a cost per frame: for frames smaller than HD it is a large share of decoding, so
    the decoder gets one thread per core but one and the caller's thread the last core (long
    640 x 360 H.264 file on two cores: 4.45 CPU s and 3.28 s wall with one decoding thread, 5.27
    and 3.59 with two). For HD and larger, decoding outweighs scoring several times over, the
    share is small, and one decoding thread would leave the scoring core idle, so the decoder gets
    every core (1080p H.264: 2.22 CPU s and 1.27 s wall with two threads, 2.13 and 1.93 with one)."""
    if requested or not in_background:
        return requested
    cores = available_cores()
    return cores if pixels >= HD_PIXELS else max(1, cores - 1)


@dataclass
class DecodeStats:
    frames: int = 0
    errors: int = 0
    first_pts_s: float | None = None
    last_time_s: float = 0.0
    last_duration_s: float = 0.0
    rotation: int = 0
    stopped_early: str | None = None  # why decoding ended before the end of the stream
    timestamp_repairs: int = 0
    discontinuities: int = 0

    @property
    def span_s(self) -> float:
        """Time covered by the decoded frames (last frame's start plus its duration)."""
        return self.last_time_s + self.last_duration_s if self.frames else 0.0


@dataclass
class FrameDecoder:
    """Iterate over the decoded frames of one video stream.

    Timestamps come from each frame's PTS, so variable-frame-rate video gets true times;
    frames without a usable PTS get the previous time plus the nominal frame duration.
    """

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    small_size: tuple[int, int] = (64, 36)
    small_format: str = "rgb24"
    threads: int = 0  # 0: FFmpeg picks
    max_frames: int | None = None
    fast: bool = False  # skip the in-loop deblocking filter (see the module docstring)
    deblock_references_only: bool = False  # skip it on non-reference frames only (module docstring)
    seek_s: float | None = None  # start at the keyframe at this stream time; earlier frames are dropped
    origin_s: float | None = None  # stream time of the video's first frame (default: the first decoded)
    prefetch: bool = True  # decode in a background thread, overlapping with the caller's work
    # Hand over the full-size frames too (for keyframes). Without them no DecodedFrame holds one,
    # so each frame's buffer goes back to the decoder's pool once its hand-over is scaled down.
    keep_frames: bool = True
    stats: DecodeStats = field(default_factory=DecodeStats)

    def _nominal_frame_s(self) -> float:
        rate = self.stream.average_rate or self.stream.base_rate or self.stream.guessed_rate
        try:
            return 1.0 / float(rate) if rate else 1 / 25
        except ZeroDivisionError:
            return 1 / 25

    def _packets(self) -> Iterator[av.Packet]:
        if self.seek_s is not None and self.seek_s > 0:
            self.container.seek(int(round(self.seek_s / self.stream.time_base)), backward=True,
                                any_frame=False, stream=self.stream)
        try:
            yield from self.container.demux(self.stream)
        except av.error.FFmpegError as exc:  # truncated or damaged container
            self.stats.stopped_early = f"demuxing stopped: {exc}"

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self.prefetch:
            decoded = _in_background(self._decode(), self._batch_frames(), owner=id(self.container))
        else:
            decoded = _one_by_one(self._decode())
        yield from self._scaled(decoded)

    def _batch_frames(self) -> int:
        cc = self.stream.codec_context
        frame_bytes = max(1, (cc.width or 1920) * (cc.height or 1080) * 3 // 2)
        return max(1, min(PREFETCH_BATCH_FRAMES, PREFETCH_BATCH_BYTES // frame_bytes))

    def _scaled(self, decoded: Iterator[list[_Decoded]]) -> Iterator[DecodedFrame]:
        """The decoded frames with their small versions, made here, in the caller's thread, while
        the decoder's thread goes on decoding."""
        small_frames = SmallFrames(self.small_size, self.small_format, SMALL_BLOCK_FRAMES)
        pending: list[_Decoded] = []  # waiting for their small frames
        index = 0
        for batch in decoded:
            for entry in batch:
                small_frames.add(entry.frame)
                pending.append(entry)
                if len(pending) >= SMALL_BLOCK_FRAMES:
                    yield from self._with_small(pending, small_frames.take(), index)
                    index += len(pending)
                    pending = []
        yield from self._with_small(pending, small_frames.take(), index)

    def _with_small(self, entries: list[_Decoded], smalls: list[np.ndarray], first: int) -> Iterator[DecodedFrame]:
        for k, (entry, small) in enumerate(zip(entries, smalls)):
            yield DecodedFrame(first + k, entry.time_s, small, entry.frame if self.keep_frames else None, entry.pts_s)

    def _thread_count(self) -> int:
        cc = self.stream.codec_context
        return decoding_threads(self.threads, self.prefetch, (cc.width or 0) * (cc.height or 0))

    def _decode(self) -> Iterator[_Decoded]:
        cc = self.stream.codec_context
        cc.thread_type = "AUTO"  # frame + slice threading: several times faster
        if threads := self._thread_count():
            cc.thread_count = threads
        if self.fast:
            cc.options = {**cc.options, "skip_loop_filter": "all"}
        elif self.deblock_references_only:
            cc.options = {**cc.options, "skip_loop_filter": "noref"}  # FFmpeg's AVDISCARD_NONREF
        nominal = self._nominal_frame_s()
        consecutive_errors = 0
        prev_time = None
        best_effort = BestEffortTimestamps()
        offset = 0.0  # added after each discontinuity
        seconds_per_tick: float | None = None
        for packet in self._packets():
            try:
                frames = packet.decode()
                consecutive_errors = 0
            except av.error.FFmpegError:
                self.stats.errors += 1
                consecutive_errors += 1
                if consecutive_errors > MAX_CONSECUTIVE_DECODE_ERRORS:
                    self.stats.stopped_early = f"{consecutive_errors} packets in a row failed to decode"
                    break
                continue
            for frame in frames:
                stamp = best_effort(frame.pts, frame.dts)
                if seconds_per_tick is None and frame.time_base:
                    # Once: Fraction arithmetic on every frame costs more than scaling a small frame.
                    seconds_per_tick = float(frame.time_base)
                pts_time = stamp * seconds_per_tick if stamp is not None and seconds_per_tick else None
                if self.seek_s is not None and pts_time is not None and pts_time < self.seek_s - 1e-6:
                    continue  # before the keyframe sought: another segment's frame
                if self.stats.first_pts_s is None:
                    self.stats.first_pts_s = pts_time if pts_time is not None else 0.0
                    if self.origin_s is not None:
                        self.stats.first_pts_s = self.origin_s
                    self.stats.rotation = int(frame.rotation or 0)
                t = None if pts_time is None else pts_time - self.stats.first_pts_s + offset
                if t is not None and prev_time is not None and t < prev_time - MAX_BACKWARD_JUMP_S:
                    offset += prev_time + nominal - t
                    t = prev_time + nominal
                    self.stats.discontinuities += 1
                if t is None or (prev_time is not None and t <= prev_time):
                    t = 0.0 if prev_time is None else prev_time + nominal
                    self.stats.timestamp_repairs += prev_time is not None
                if prev_time is not None:
                    self.stats.last_duration_s = t - prev_time
                else:
                    self.stats.last_duration_s = nominal
                prev_time = t
                self.stats.frames += 1
                self.stats.last_time_s = t
                yield _Decoded(t, frame, pts_time)
                if self.max_frames is not None and self.stats.frames >= self.max_frames:
                    self.stats.stopped_early = f"stopped at the limit of {self.max_frames} frames"
                    return
        if self.stats.frames == 0:
            reason = self.stats.stopped_early or "the stream ended"
            raise MediaError(f"no frame could be decoded ({reason}; {self.stats.errors} bad packets)")


_DONE = object()


def _one_by_one(frames: Iterator[_Decoded]) -> Iterator[list[_Decoded]]:
    for frame in frames:
        yield [frame]


# Background decoders (each thread with its stop signal) by the id of the container they read,
# so that whoever closes a container can stop them first (stop_decoding): FFmpeg must not demux
# from a closed container.
_RUNNING: dict[int, dict[threading.Thread, threading.Event]] = {}
_RUNNING_LOCK = threading.Lock()


def stop_decoding(container: av.container.InputContainer) -> None:
    """Stop and wait for the background decoders still reading `container`. A caller that leaves
    an iteration by an exception raised in a nested frame (a comprehension, a helper) keeps the
    iterator alive in the traceback, so its thread would otherwise outlive the container."""
    with _RUNNING_LOCK:
        running = list(_RUNNING.get(id(container), {}).items())
    for _, stop in running:
        stop.set()
    for thread, _ in running:
        thread.join()


def _in_background(frames: Iterator[_Decoded], batch_frames: int, owner: int) -> Iterator[list[_Decoded]]:
    """Run `frames` in a thread, handing over lists of up to `batch_frames`; an exception in the
    thread is raised here, and leaving early (break, an error in the caller) or stop_decoding
    stops the thread."""
    handover: queue.Queue = queue.Queue(maxsize=PREFETCH_QUEUE)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handover.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        batch: list[_Decoded] = []
        try:
            for decoded in frames:
                batch.append(decoded)
                if len(batch) >= batch_frames:
                    if not put(batch):
                        return
                    batch = []
            if batch and not put(batch):
                return
            put(_DONE)
        except BaseException as exc:  # handed to the caller, raised in its thread
            put(exc)
        finally:
            frames.close()

    worker = threading.Thread(target=produce, name="sceneline-decode", daemon=True)
    with _RUNNING_LOCK:
        _RUNNING.setdefault(owner, {})[worker] = stop
    worker.start()
    try:
        while (item := _next(handover, stop)) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
        with _RUNNING_LOCK:
            running = _RUNNING.get(owner, {})
            running.pop(worker, None)
            if not running:
                _RUNNING.pop(owner, None)


def _next(handover: queue.Queue, stop: threading.Event):
    """The next hand-over, or the end once the thread has been told to stop."""
    while True:
        try:
            return handover.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _DONE
