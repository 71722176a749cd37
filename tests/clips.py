"""Make small test clips with PyAV, from real footage or plain colours."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import numpy as np


def read_frames(path: Path, start: int, count: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """`count` RGB frames of a real video from frame index `start` (resized if size given)."""
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start:
                continue
            if size:
                frame = frame.reformat(width=size[0], height=size[1])
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
    if len(out) < count:
        raise ValueError(f"{path} has fewer than {start + count} frames")
    return out


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = 25, codec: str = "libx264",
                pix_fmt: str = "yuv420p", options: dict | None = None) -> Path:
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.options = options
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_shots(path: Path, shots: Sequence[tuple[Path, int, int]], size=(320, 180), fps: int = 25) -> list[int]:
    """Join pieces of real videos with hard cuts; returns the first frame index of each shot."""
    frames, starts = [], []
    for source, start, count in shots:
        starts.append(len(frames))
        frames += read_frames(source, start, count, size)
    write_video(path, frames, fps=fps)
    return starts


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 22050) -> Path:
    """A valid MP4 with an AAC track and no video stream."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(rate * seconds))).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def burn_text(rgb: np.ndarray, text: str, xy: tuple[int, int], size: int = 28,
              colour=(255, 255, 255), box=(0, 0, 0)) -> np.ndarray:
    """The frame with `text` drawn on a solid box at `xy`, as a title or caption is burned in."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 6, top - 6, right + 6, bottom + 6), fill=box)
    draw.text(xy, text, font=font, fill=colour)
    return np.asarray(img)
