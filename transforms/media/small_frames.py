"""Small RGB frames for the shot detectors, made from decoded frames in blocks.

Asking swscale for a 64 x 36 RGB thumbnail with its area filter costs about twice what the
luma alone costs (about 90 against 40 us a frame from 640 x 360), a third of all the work of
shot detection beyond decoding. So for 8-bit planar YUV, the usual case:

- the luma is scaled by swscale's area filter, as before (the anti-aliased average carries the
  picture's detail, which cuts and dissolves are scored on);
- the chroma is read at the thumbnail's pixel centres straight from the decoded planes (no copy
  of the planes: colour only counts over large areas, and chroma planes are smooth);
- the conversion to RGB (with the matrix swscale would use: BT.709 or BT.2020 where the frame
  says so, else BT.601; full range for the yuvj formats) runs in numpy over a whole block of
  frames, so its cost per frame is a few microseconds. Until then the planes wait as 8-bit
  values: a strided copy of bytes costs a third of one that converts each value to float.

The frames handed back are C-contiguous: the detectors stack and copy them, and a strided
layout made each of those copies several times slower.

Other pixel formats (RGB, 10-bit, hardware frames downloaded as NV12) take swscale's RGB path.
"""

from __future__ import annotations

import functools

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# 8-bit planar YUV layouts whose chroma planes can be read directly; the yuvj ones are full range.
_PLANAR_YUV = {"yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p"}
# Limited-range chroma spans 16-240; full-range RGB needs it stretched to 0-255. Like swscale
# when no range is passed to it (the luma comes from swscale), only the yuvj formats are full range.
_LIMITED_CHROMA = 255 / 224


def _ycbcr_to_rgb(kr: float, kb: float) -> np.ndarray:
    """Full-range Y'CbCr (chroma centred on 0) to RGB, for the luma weights kr, kb."""
    kg = 1.0 - kr - kb
    return np.array([[1.0, 0.0, 2 * (1 - kr)],
                     [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                     [1.0, 2 * (1 - kb), 0.0]], np.float32)


# Subtracted from Y, Cb, Cr before the matrix: chroma is stored centred on 128.
_CHROMA_CENTRE = np.array([0, 128, 128], np.float32)[:, None]

_BT601 = _ycbcr_to_rgb(0.299, 0.114)
# AVColorSpace values swscale has its own matrix for; every other (unspecified included) is BT.601.
_MATRICES = {1: _ycbcr_to_rgb(0.2126, 0.0722), 7: _ycbcr_to_rgb(0.212, 0.087),  # BT.709, SMPTE 240M
             9: _ycbcr_to_rgb(0.2627, 0.0593), 10: _ycbcr_to_rgb(0.2627, 0.0593)}  # BT.2020


@functools.lru_cache(maxsize=None)
def _matrix(colorspace: int, pixel_format: str) -> np.ndarray:
    """The Y'CbCr -> RGB matrix for a frame's colour space and range (one per stream, in practice)."""
    matrix = _MATRICES.get(colorspace, _BT601)
    if not pixel_format.startswith("yuvj"):
        matrix = matrix * np.array([1.0, _LIMITED_CHROMA, _LIMITED_CHROMA], np.float32)
    return matrix


class SmallFrames:
    """Scale frames to `size` (width, height) in `pixel_format`: `add` each frame, then `take`
    the arrays of those added since the last `take`, in order (H x W x 3 for RGB, else what
    PyAV's to_ndarray gives). At most `block` frames may wait for a `take`."""

    def __init__(self, size: tuple[int, int], pixel_format: str, block: int):
        self.width, self.height = size
        self.pixel_format = pixel_format
        self._scaler = VideoReformatter()  # one scaler for the stream: FFmpeg reuses its set-up
        self._done: list[np.ndarray | None] = []  # per frame; None where the frame waits in _ycc_bytes
        # Luma, Cb, Cr of the waiting frames as bytes, and in float for the conversion; reused
        # from block to block (fresh arrays of this size cost page faults every time).
        self._ycc_bytes = np.empty((block, 3, self.height, self.width), np.uint8)
        self._ycc = np.empty((block, 3, self.height * self.width), np.float32)
        self._rgb = np.empty((block, 3, self.height * self.width), np.float32)
        self._matrix = np.empty((block, 3, 3), np.float32)  # per frame: its chroma range and colour space
        self._waiting = 0
        self._sample_at: dict[tuple[int, int], tuple] = {}

    def add(self, frame: av.VideoFrame) -> None:
        if self.pixel_format != "rgb24" or frame.format.name not in _PLANAR_YUV:
            self._done.append(self._swscale(frame, self.pixel_format))
            return
        ycc = self._ycc_bytes[self._waiting]
        ycc[0] = self._swscale(frame, "gray")  # full-range luma, whatever the source's range
        _, cb, cr = frame.planes
        ycc[1] = self._sample(cb)
        ycc[2] = self._sample(cr)
        self._matrix[self._waiting] = _matrix(int(frame.colorspace), frame.format.name)
        self._waiting += 1
        self._done.append(None)

    def take(self) -> list[np.ndarray]:
        out = self._done
        if self._waiting:
            converted = iter(self._convert(self._waiting))
            out = [done if done is not None else next(converted) for done in out]
        self._done, self._waiting = [], 0
        return out

    def _convert(self, count: int) -> np.ndarray:
        """The waiting frames in RGB, count x H x W x 3 (C-contiguous)."""
        ycc = np.subtract(self._ycc_bytes[:count].reshape(count, 3, -1), _CHROMA_CENTRE, out=self._ycc[:count],
                          dtype=np.float32)
        rgb = np.matmul(self._matrix[:count], ycc, out=self._rgb[:count])
        rgb += 0.5  # round to nearest on the cast below
        np.clip(rgb, 0, 255, out=rgb)
        planar = rgb.astype(np.uint8)
        # Each pixel's three channels side by side, as the detectors read them: three strided
        # writes of bytes cost half of one transposing copy.
        pixels = np.empty((count, self.height * self.width, 3), np.uint8)
        for channel in range(3):
            pixels[:, :, channel] = planar[:, channel]
        return pixels.reshape(count, self.height, self.width, 3)

    def _swscale(self, frame: av.VideoFrame, pixel_format: str) -> np.ndarray:
        # Single-threaded: the output is a few thousand pixels, and swscale's default of one
        # slice thread per core costs more than it saves there.
        return self._scaler.reformat(frame, width=self.width, height=self.height, format=pixel_format,
                                     interpolation="AREA", threads=1).to_ndarray()

    def _sample(self, plane) -> np.ndarray:
        """The plane's values at the thumbnail's pixel centres (a view, no copy)."""
        at = self._sample_at.get((plane.width, plane.height)) or self._centres(plane.width, plane.height)
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[at]

    def _centres(self, width: int, height: int) -> tuple:
        """Where the thumbnail's pixel centres fall in a plane: slices when they are evenly
        spaced (a view), else index arrays."""
        def along(size: int, count: int):
            at = np.minimum(size - 1, ((np.arange(count) + 0.5) * size / count).astype(np.intp))
            steps = np.diff(at)
            if count > 1 and (steps == steps[0]).all() and steps[0] > 0:
                return slice(int(at[0]), int(at[-1]) + 1, int(steps[0]))
            return at
        rows, cols = along(height, self.height), along(width, self.width)
        if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray):
            rows = rows[:, None]  # two index arrays: broadcast to the grid (with a slice it already is)
        self._sample_at[(width, height)] = (rows, cols)
        return rows, cols

