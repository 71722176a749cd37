"""Comparing two small frames: did the picture change, or only its brightness or framing?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype == np.uint8 and b.dtype == np.uint8:  # the usual case: exact in integers, no float copies
        return float((np.maximum(a, b) - np.minimum(a, b)).sum(dtype=np.uint64)) / a.size
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def grey_level(frame: np.ndarray) -> np.ndarray:
    """The channel mean, as two additions: numpy's reduction over a last axis of 3 is many times
    slower (and gives the same float32 values)."""
    rgb = frame.astype(np.float32)
    return (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) / 3


def normalised_grey(frame: np.ndarray) -> np.ndarray:
    grey = grey_level(frame)
    return (grey - grey.mean()) / max(float(grey.std()), 4.0)


def structure_change(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    """Mean difference of the normalised grey images at the best shift of up to max_shift pixels
    (over the middle of the frame, which every shift covers)."""
    za, zb = normalised_grey(a), normalised_grey(b)
    s = max_shift
    h, w = za.shape
    middle = za[s:h - s, s:w - s]
    shifted = np.lib.stride_tricks.sliding_window_view(zb, middle.shape)  # (2s+1) x (2s+1) x h' x w'
    diff = np.abs(shifted - middle).reshape((2 * s + 1) ** 2, -1)  # one row per shift: a fast reduction
    return float(diff.mean(axis=1).min())


def palette_change(a: np.ndarray, b: np.ndarray, bins: int = 8) -> float:
    """Total variation distance (0-1) of the two frames' chromaticity histograms."""
    return float(0.5 * np.abs(_chromaticity(a, bins) - _chromaticity(b, bins)).sum())


def _chromaticity(frame: np.ndarray, bins: int) -> np.ndarray:
    rgb = frame.reshape(-1, 3).astype(np.float32)
    total = rgb.sum(axis=1) + 1.0
    r = np.minimum(bins - 1, (rgb[:, 0] / total * bins).astype(np.int64))
    g = np.minimum(bins - 1, (rgb[:, 1] / total * bins).astype(np.int64))
    hist = np.bincount(r * bins + g, minlength=bins * bins).astype(np.float32)
    return hist / hist.sum()


@dataclass(frozen=True)
class PictureChange:
    """Two frames show different pictures when their structure differs: the grey images,
    normalised for brightness and contrast and allowed to shift a few pixels, still differ.
    Exposure changes, fades, jerky camera motion and motion blur do not change it. Frames with
    too little detail to compare (nearly flat) differ when their palettes do."""

    min_structure_change: float = 0.45
    min_palette_change: float = 0.5
    max_shift: int = 4  # pixels of a 64 x 36 frame
    min_detail: float = 12.0  # grey standard deviation below which a frame is nearly flat

    def differ(self, a: np.ndarray, b: np.ndarray) -> bool:
        if structure_change(a, b, self.max_shift) >= self.min_structure_change:
            return True
        flat = max(_detail(a), _detail(b)) < self.min_detail
        return flat and palette_change(a, b) >= self.min_palette_change


def _detail(frame: np.ndarray) -> float:
    return float(grey_level(frame).std())


@dataclass(frozen=True)
class Coverage:
    """A change of shot changes most of the picture, not one region (a title, an object passing):
    the share of the coarse grid's cells (window.py) whose colour moves by more than
    `cell_threshold` must reach `min_share`."""

    min_share: float
    cell_threshold: float = 20.0

    def covers(self, cells_a: np.ndarray, cells_b: np.ndarray) -> bool:
        moved = np.abs(cells_a - cells_b).mean(axis=-1) > self.cell_threshold
        return float(moved.mean()) >= self.min_share
