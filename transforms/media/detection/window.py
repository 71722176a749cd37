"""The recent past of a frame stream, with the per-frame features detectors score on.

Features are computed once per batch with numpy, never frame by frame in Python:

- `diff1`, `diff2`: mean absolute RGB difference to the frame 1 and 2 before (0-255);
- `std`, `mean`: spatial standard deviation and mean of the grey image;
- `cells`: the frame averaged into a coarse grid (16 x 9 cells for 64 x 36 frames), RGB;
  `shape` is the same grid with each channel's mean removed, so global brightness is ignored.

Positions count frames from the start of the stream (0, 1, 2, ...); the window keeps the last
`capacity` of them, enough for the longest look-back any detector takes.
"""

from __future__ import annotations

import numpy as np

GRID = (9, 16)  # rows, columns of the coarse grid


class FrameWindow:
    def __init__(self, capacity: int):
        self.capacity = max(capacity, 8)
        self.start = 0  # position of the oldest frame held
        self.end = 0  # position after the newest frame
        self._frames: np.ndarray | None = None
        self._series: dict[str, np.ndarray] = {}
        self._pool: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.end - self.start

    def _grow(self, name: str, values: np.ndarray) -> None:
        held = self._series.get(name)
        self._series[name] = values if held is None else np.concatenate([held, values])

    def append(self, indices: np.ndarray, times: np.ndarray, frames: np.ndarray) -> None:
        """Add the next frames (N x H x W x 3, uint8) and their features."""
        count = len(frames)
        if count == 0:
            return
        # Integer differences and matrix products: numpy's float reductions over several axes
        # cost many times more.
        tail = self._frames[-2:] if self._frames is not None else frames[:0]
        joined = np.concatenate([tail, frames])
        skip = len(tail)
        pixels = frames[0].size
        diff1 = np.zeros(count, np.float32)
        diff2 = np.zeros(count, np.float32)
        d1 = _sum_abs(joined[1:], joined[:-1]) / pixels  # d1[j]: frame j+1 against frame j
        diff1[max(0, 1 - skip):] = d1[max(0, skip - 1):]
        if len(joined) > 2:
            d2 = _sum_abs(joined[2:], joined[:-2]) / pixels
            diff2[max(0, 2 - skip):] = d2[max(0, skip - 2):]
        grey = (frames.astype(np.float32) @ _THIRDS).reshape(count, -1)
        cells = self._grid(frames)
        self._grow("index", np.asarray(indices, np.int64))
        self._grow("time", np.asarray(times, np.float64))
        self._grow("diff1", diff1)
        self._grow("diff2", diff2)
        self._grow("std", grey.std(axis=1))
        self._grow("mean", grey.mean(axis=1))
        self._grow("cells", cells)
        self._grow("shape", cells - cells.reshape(count, -1, cells.shape[-1]).mean(axis=1)[:, None, None, :])
        self._frames = frames.copy() if self._frames is None else np.concatenate([self._frames, frames])
        self.end += count

    def _grid(self, frames: np.ndarray) -> np.ndarray:
        """N x H x W x C -> N x 9 x 16 x C block means, as two matrix products (edges that do not
        divide evenly are left out)."""
        _, height, width, _ = frames.shape
        if self._pool is None:
            self._pool = (_pooling(GRID[0], height), _pooling(GRID[1], width).T)
        rows, cols = self._pool
        planes = frames.astype(np.float32).transpose(0, 3, 1, 2)  # N x C x H x W
        return (rows @ planes @ cols).transpose(0, 2, 3, 1)

    def forget_before(self, position: int) -> None:
        """Drop frames older than `position` (never more than the window can spare)."""
        position = min(position, self.end - 2, self.end - self.capacity)
        drop = position - self.start
        if drop <= 0:
            return
        self._frames = self._frames[drop:]
        for name, values in self._series.items():
            self._series[name] = values[drop:]
        self.start = position

    def series(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Feature `name` for positions [lo, hi) (clipped to what is held)."""
        lo, hi = max(lo, self.start), min(hi, self.end)
        return self._series[name][lo - self.start:max(lo, hi) - self.start]

    def value(self, name: str, position: int):
        return self._series[name][position - self.start]

    def frame(self, position: int) -> np.ndarray:
        return self._frames[position - self.start]

    def index(self, position: int) -> int:
        return int(self._series["index"][position - self.start])

    def time(self, position: int) -> float:
        return float(self._series["time"][position - self.start])

    def holds(self, position: int) -> bool:
        return self.start <= position < self.end


_THIRDS = np.full(3, 1 / 3, np.float32)


def _sum_abs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame, the sum of |a - b| over uint8 frames: max - min stays in uint8 (no widening
    copy), and the sum is exact in uint32 for frames of up to 16 million values."""
    diff = np.maximum(a, b) - np.minimum(a, b)
    return diff.reshape(len(diff), int(np.prod(diff.shape[1:]))).sum(axis=1, dtype=np.uint32).astype(np.float32)


def _pooling(cells: int, size: int) -> np.ndarray:
    """A cells x size matrix that averages equal blocks of `size` into `cells`."""
    block = max(1, size // cells)
    pool = np.zeros((cells, size), np.float32)
    for c in range(cells):
        pool[c, c * block:(c + 1) * block] = 1.0 / block
    return pool
