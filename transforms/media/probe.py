"""Probe a video: what the container claims, later cross-checked against what decodes."""

from __future__ import annotations

import av

from sceneline.schemas import AudioStreamInfo, MediaError, ProbeInfo


def _as_float(value) -> float | None:
    try:
        return float(value) if value else None
    except (TypeError, ZeroDivisionError, ValueError):
        return None


def display_size(width: int, height: int, sample_aspect: float | None, rotation: int) -> tuple[int, int]:
    """The size a player shows: non-square pixels stretched, quarter turns swapped."""
    dw = int(round(width * sample_aspect)) if sample_aspect and sample_aspect > 0 else width
    dw += dw % 2
    return (height, dw) if rotation % 180 == 90 else (dw, height)


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    streams = [s for s in container.streams.video if s.codec_context is not None]
    if not streams or container.format.name in ("tty", "ansi"):
        raise MediaError("no video stream in the file")
    # Cover art is stored as a one-frame "video" stream in some containers; prefer real video.
    real = [s for s in streams if not (s.disposition & av.stream.Disposition.attached_pic)]
    return (real or streams)[0]


def probe_container(container: av.container.InputContainer, size_bytes: int) -> ProbeInfo:
    """Header facts about the container and its first video stream (nothing decoded yet)."""
    stream = video_stream(container)
    cc = stream.codec_context
    claimed = None
    if stream.duration is not None and stream.time_base is not None:
        claimed = float(stream.duration * stream.time_base)
    elif container.duration:
        claimed = container.duration / 1_000_000
    sar = _as_float(stream.sample_aspect_ratio)
    width, height = cc.width or stream.width, cc.height or stream.height
    if not width or not height:
        raise MediaError("the video stream has no frame size")
    dw, dh = display_size(width, height, sar, 0)
    audio = [
        AudioStreamInfo(
            codec=a.codec_context.name if a.codec_context else None,
            channels=getattr(a.codec_context, "channels", None),
            sample_rate=a.codec_context.sample_rate if a.codec_context else None,
            language=a.language,
        )
        for a in container.streams.audio
    ]
    return ProbeInfo(
        container=container.format.name,
        codec=cc.name,
        width=width,
        height=height,
        display_width=dw,
        display_height=dh,
        display_aspect=round(dw / dh, 4),
        sample_aspect=sar,
        avg_fps=_as_float(stream.average_rate),
        real_fps=_as_float(stream.base_rate) or _as_float(stream.guessed_rate),
        duration_s=claimed,
        claimed_duration_s=claimed,
        claimed_frames=stream.frames or None,
        bitrate=container.bit_rate or cc.bit_rate or None,
        size_bytes=size_bytes,
        pixel_format=cc.pix_fmt,
        audio_streams=audio,
    )


def reconcile_with_decode(
    probe: ProbeInfo, *, decoded_frames: int, decoded_span_s: float, decode_errors: int, rotation: int
) -> ProbeInfo:
    """Replace the container's claims with what decoding found, noting where they disagree."""
    warnings = list(probe.warnings)
    claimed = probe.claimed_duration_s
    if claimed is None:
        warnings.append("the container states no duration; duration taken from decoded frames")
    elif abs(claimed - decoded_span_s) > max(1.0, 0.1 * claimed):
        warnings.append(
            f"the container claims {claimed:.2f} s but the decoded frames span {decoded_span_s:.2f} s")
    fps = probe.avg_fps or probe.real_fps
    if claimed and fps:
        expected = int(round(claimed * fps))
        if expected > 0 and decoded_frames < 0.5 * expected:
            warnings.append(
                f"the container implies about {expected} frames at {fps:.3g} fps but {decoded_frames} decoded")
    if decode_errors:
        warnings.append(f"{decode_errors} packets failed to decode and were skipped")
    dw, dh = display_size(probe.width or 0, probe.height or 0, probe.sample_aspect, rotation)
    return probe.model_copy(update={
        "duration_s": round(decoded_span_s, 6),
        "decoded_frames": decoded_frames,
        "decode_errors": decode_errors,
        "rotation": rotation,
        "display_width": dw,
        "display_height": dh,
        "display_aspect": round(dw / dh, 4) if dh else None,
        "warnings": warnings,
    })

