"""Render spans of one video into a single MP4 (a reel of highlights or search hits), with PyAV.

When every cut falls on a keyframe (scene cuts usually do: encoders put keyframes there), the
packets are copied as they are, with no quality loss and at demux speed. Otherwise the spans
are decoded and encoded once (libx264 and AAC), frame-accurately. Sound goes along in both.
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
    """Packets of each span (keyframe to keyframe), timestamps shifted to follow each other; the
    audio packets of the same times go along (AAC packets are all independently decodable)."""
    with av.open(path) as source, av.open(str(out), "w") as target:
        src = source.streams.video[0]
        asrc = source.streams.audio[0] if source.streams.audio else None
        dst = target.add_stream_from_template(src)
        adst = target.add_stream_from_template(asrc) if asrc is not None else None
        tb = src.time_base
        packets, audio = [], []
        for p in source.demux(*(s for s in (src, asrc) if s is not None)):
            if p.pts is None or p.size == 0:
                continue
            (packets if p.stream.index == src.index else audio).append(p)
        frame_ticks = max(1, round(1 / float(src.average_rate or 25) / tb))
        offset = 0  # ticks of the reel so far
        last_dts: int | None = None
        last_audio_pts: int | None = None
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
            if adst is not None:
                span_start, span_end = float(first * tb), float(end * tb)
                ashift = round(float((first + shift) * tb - span_start) / asrc.time_base)
                for p in audio:
                    t = float(p.pts * asrc.time_base)
                    if span_start <= t < span_end:
                        p.pts += ashift
                        p.dts = p.pts
                        if last_audio_pts is not None and p.pts <= last_audio_pts:
                            continue  # an overlap at a join: keep time moving forward
                        last_audio_pts = p.pts
                        p.stream = adst
                        target.mux(p)
            offset = end + shift
        return float(offset * tb)


def _encode(path: str, spans: Sequence[tuple[float, float]], out: Path) -> float:
    """Decode each span frame-accurately and encode it once: libx264 video, AAC audio."""
    with av.open(path) as source, av.open(str(out), "w") as target:
        src = source.streams.video[0]
        asrc = source.streams.audio[0] if source.streams.audio else None
        rate = src.average_rate or fractions.Fraction(25)
        dst = target.add_stream("libx264", rate=rate)
        dst.width, dst.height = src.codec_context.width, src.codec_context.height
        dst.pix_fmt = "yuv420p"
        frame_tb = fractions.Fraction(1, 1) / rate
        adst = resampler = None
        if asrc is not None:
            sample_rate = asrc.codec_context.sample_rate or 44100
            adst = target.add_stream("aac", rate=sample_rate)
            adst.layout = "stereo" if asrc.codec_context.channels > 1 else "mono"
            resampler = av.AudioResampler(format="fltp", layout=adst.layout, rate=sample_rate)
        written = samples = 0
        for a, b in spans:
            source.seek(int(max(0.0, a) / src.time_base), stream=src, backward=True)
            span_frames = 0
            video_done = False
            for packet in source.demux(*(s for s in (src, asrc) if s is not None)):
                for frame in packet.decode():
                    t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                    if packet.stream.index == src.index:
                        if t < a - 1e-6:
                            continue
                        if t >= b - 1e-6:
                            video_done = True
                            break
                        picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                        picture.pts, picture.time_base = written + span_frames, frame_tb
                        for out_packet in dst.encode(picture):
                            target.mux(out_packet)
                        span_frames += 1
                    elif a - 1e-6 <= t < b - 1e-6 and adst is not None:
                        for chunk in resampler.resample(frame):
                            chunk.pts, chunk.time_base = samples, fractions.Fraction(1, adst.rate)
                            samples += chunk.samples
                            for out_packet in adst.encode(chunk):
                                target.mux(out_packet)
                if video_done and (asrc is None or float(packet.pts or 0) * float(packet.time_base) >= b):
                    break
            written += span_frames
            if adst is not None:  # the next span's sound starts with its pictures
                samples = max(samples, round(written / float(rate) * adst.rate))
        for packet in dst.encode(None):
            target.mux(packet)
        if adst is not None:
            for packet in adst.encode(None):
                target.mux(packet)
        return written / float(rate)
