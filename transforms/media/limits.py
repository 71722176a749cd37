"""Where each limit (schemas/limits.py) is checked: admission, probe, decode, image open."""

from __future__ import annotations

import time
import warnings

from PIL import Image

from sceneline.schemas import ProbeInfo
from sceneline.schemas.limits import LimitExceeded, Limits

# Reading the clock for every frame costs more than it tells; every few frames is enough.
CLOCK_EVERY_FRAMES = 16


def check_bytes(size_bytes: int | None, limits: Limits) -> None:
    if size_bytes is not None and size_bytes > limits.max_bytes:
        raise LimitExceeded("max_bytes", f"the file has {size_bytes:,} bytes", limits.max_bytes)


def check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise LimitExceeded("max_pixels", f"a frame is {width} x {height} ({width * height:,} pixels)",
                            limits.max_pixels)


def check_probe(probe: ProbeInfo, limits: Limits) -> None:
    """What the container claims, before anything is decoded."""
    check_pixels(probe.width or 0, probe.height or 0, limits)
    claimed = probe.claimed_duration_s
    if claimed is not None and claimed > limits.max_duration_s:
        raise LimitExceeded("max_duration_s", f"the container states a duration of {claimed:.1f} s",
                            limits.max_duration_s)


def check_frames(frames: int, limits: Limits) -> None:
    if frames > limits.max_frames:
        raise LimitExceeded("max_frames", f"more than {frames - 1:,} frames decode", limits.max_frames)


class DecodeGuard:
    """Checked for every decoded frame: frames, the time reached (a file may state no duration,
    or a false one) and the wall-clock budget."""

    def __init__(self, limits: Limits):
        self._limits = limits
        self._deadline = time.monotonic() + limits.time_budget_s
        self._frames = 0

    def frame(self, time_s: float) -> None:
        self._frames += 1
        check_frames(self._frames, self._limits)
        if time_s > self._limits.max_duration_s:
            raise LimitExceeded("max_duration_s", f"frames decode past {time_s:.1f} s", self._limits.max_duration_s)
        if self._frames % CLOCK_EVERY_FRAMES == 0 and time.monotonic() > self._deadline:
            raise LimitExceeded("time_budget_s", f"analysis took longer than {self._limits.time_budget_s:g} s "
                                f"({self._frames:,} frames decoded)", self._limits.time_budget_s)


def open_image_within(stream, limits: Limits) -> Image.Image:
    """Image.open with Pillow's decompression-bomb guard set from max_pixels, and our own check of
    the header's size before any pixel is decoded."""
    # Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; the check below fails
    # everything past the limit itself, with the limit's name.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():  # past the limit is an error below, not a warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise LimitExceeded("max_pixels", f"the image header claims a decompression bomb ({exc})",
                            limits.max_pixels) from exc
    check_pixels(*img.size, limits)
    return img
