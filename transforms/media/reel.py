"""Render spans of one video into a single MP4 (a reel of highlights or search hits), with PyAV.

When every cut falls on a keyframe (scene cuts usually do: encoders put keyframes there), the
video packets are copied as they are, with no quality loss and at demux speed. Otherwise the
spans are decoded and encoded once with libx264, frame-accurately. Only the video track is
kept.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av


class ReelError(ValueError):
    """Spans that cannot make a reel (empty, outside the video) or a source PyAV cannot read."""


@dataclass(frozen=True)
class ReelResult:
    path: Path
    mode: str  # "copy" | "encode"
    duration_s: float
    spans: tuple[tuple[float, float], ...]


def _local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def keyframe_times(path: str) -> tuple[list[float], float]:
    """Times of the video's keyframes (from the packets, no decoding) and the stream's frame time."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        times = sorted(float(p.pts * tb) for p in container.demux(stream) if p.pts is not None and p.is_keyframe)
        rate = stream.average_rate or stream.guessed_rate or 25
    return times, 1.0 / float(rate)


def render_reel(source: str, spans: Sequence[tuple[float, float]], out: str | Path) -> ReelResult:
    path = _local_path(source)
    if not Path(path).is_file():
        raise ReelError(f"the source video {source} is not a local file")
    spans = tuple((float(a), float(b)) for a, b in spans)
    if not spans or any(b <= a or a < 0 for a, b in spans):
        raise ReelError("a reel needs at least one span, each with 0 <= start < end")
    try:
        keyframes, frame_s = keyframe_times(path)
    except av.error.FFmpegError as exc:
        raise ReelError(f"{source} cannot be read as a video: {exc}") from exc
    tolerance = frame_s / 2
    aligned = all(any(abs(k - a) <= tolerance for k in keyframes) for a, _ in spans) and \
        all(any(abs(k - b) <= tolerance for k in keyframes) or b >= _duration(path) - tolerance for _, b in spans)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    duration = _copy(path, spans, out, tolerance) if aligned else _encode(path, spans, out)
    return ReelResult(out, "copy" if aligned else "encode", duration, spans)


def _duration(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base


def _copy(path: str, spans: Sequence[tuple[float, float]], out: Path, tolerance: float) -> float:
    """Packets of each span (keyframe to keyframe), timestamps shifted to follow each other."""
    with av.open(path) as source, av.open(str(out), "w") as target:
        src = source.streams.video[0]
        dst = target.add_stream_from_template(src)
        tb = src.time_base
        packets = [p for p in source.demux(src) if p.pts is not None]
        frame_ticks = max(1, round(1 / float(src.average_rate or 25) / tb))
        offset = 0  # ticks of the reel so far
        last_dts: int | None = None
        for a, b in spans:
            chosen = [p for p in packets if a - tolerance <= float(p.pts * tb) < b - tolerance]
            if not chosen:
                continue
            first = min(p.pts for p in chosen)
            end = max(p.pts + (p.duration or frame_ticks) for p in chosen)
            first_dts = min((p.dts for p in chosen if p.dts is not None), default=first)
            shift = offset - first
            if last_dts is not None and first_dts + shift <= last_dts:  # decode order must keep rising
                shift = last_dts + 1 - first_dts
            for p in chosen:
                p.pts += shift
                if p.dts is not None:
                    p.dts += shift
                    last_dts = p.dts if last_dts is None else max(last_dts, p.dts)
                p.stream = dst
                target.mux(p)
            offset = end + shift
        return float(offset * tb)


def _encode(path: str, spans: Sequence[tuple[float, float]], out: Path) -> float:
    with av.open(path) as source, av.open(str(out), "w") as target:
        src = source.streams.video[0]
        rate = src.average_rate or fractions.Fraction(25)
        dst = target.add_stream("libx264", rate=rate)
        dst.width, dst.height = src.codec_context.width, src.codec_context.height
        dst.pix_fmt = "yuv420p"
        frame_tb = fractions.Fraction(1, 1) / rate
        written = 0
        for a, b in spans:
            source.seek(int(max(0.0, a) / src.time_base), stream=src, backward=True)
            for frame in source.decode(src):
                t = float(frame.pts * src.time_base) if frame.pts is not None else 0.0
                if t < a - 1e-6:
                    continue
                if t >= b - 1e-6:
                    break
                frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                frame.pts, frame.time_base = written, frame_tb
                for packet in dst.encode(frame):
                    target.mux(packet)
                written += 1
        for packet in dst.encode(None):
            target.mux(packet)
        return written / float(rate)
