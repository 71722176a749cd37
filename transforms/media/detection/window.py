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


class _Rows:
    """The rows of one feature, appended at the back and dropped from the front.

    Rows live in one preallocated array: appending copies only the new rows, and dropping moves
    a start offset. When the array is full the live rows move down to its start (or into an
    array twice their size), so each row is copied O(1) times however long the stream is.
    Views handed out stay valid until the next `extend`.
    """

    def __init__(self) -> None:
        self._data: np.ndarray | None = None
        self._lo = 0
        self._hi = 0

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def rows(self) -> np.ndarray:
        return self._data[self._lo:self._hi]

    def extend(self, values: np.ndarray) -> None:
        count = len(values)
        live = self._hi - self._lo
        if self._data is None or self._hi + count > len(self._data):
            if self._data is None or 2 * (live + count) > len(self._data):
                grown = np.empty((2 * (live + count), *values.shape[1:]), values.dtype)
                if self._data is not None:
                    grown[:live] = self.rows
                self._data = grown
            else:  # room enough once the dropped rows are reclaimed
                self._data[:live] = self.rows
            self._lo, self._hi = 0, live
        self._data[self._hi:self._hi + count] = values
        self._hi += count

    def drop(self, count: int) -> None:
        self._lo += count


class FrameWindow:
    def __init__(self, capacity: int):
        self.capacity = max(capacity, 8)
        self.start = 0  # position of the oldest frame held
        self.end = 0  # position after the newest frame
        self._frames = _Rows()
        self._series: dict[str, _Rows] = {}
        self._pool: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.end - self.start

    def _grow(self, name: str, values: np.ndarray) -> None:
        self._series.setdefault(name, _Rows()).extend(values)

    def append(self, indices: np.ndarray, times: np.ndarray, frames: np.ndarray) -> None:
        """Add the next frames (N x H x W x 3, uint8) and their features."""
        count = len(frames)
        if count == 0:
            return
        # Integer differences and matrix products: numpy's float reductions over several axes
        # cost many times more.
        skip = min(2, len(self))  # held frames the first differences reach back to
        self._frames.extend(frames)
        joined = self._frames.rows[len(self._frames) - count - skip:]
        pixels = frames[0].size
        diff1 = np.zeros(count, np.float32)
        diff2 = np.zeros(count, np.float32)
        d1 = _sum_abs(joined[1:], joined[:-1]) / pixels  # d1[j]: frame j+1 against frame j
        diff1[max(0, 1 - skip):] = d1[max(0, skip - 1):]
        if len(joined) > 2:
            d2 = _sum_abs(joined[2:], joined[:-2]) / pixels
            diff2[max(0, 2 - skip):] = d2[max(0, skip - 2):]
        values = frames.astype(np.float32)
        grey = (values @ _THIRDS).reshape(count, -1)
        cells = self._grid(values)
        self._grow("index", np.asarray(indices, np.int64))
        self._grow("time", np.asarray(times, np.float64))
        self._grow("diff1", diff1)
        self._grow("diff2", diff2)
        self._grow("std", grey.std(axis=1))
        self._grow("mean", grey.mean(axis=1))
        self._grow("cells", cells)
        self._grow("shape", cells - cells.reshape(count, -1, cells.shape[-1]).mean(axis=1)[:, None, None, :])
        self.end += count

    def _grid(self, values: np.ndarray) -> np.ndarray:
        """N x H x W x C (float32) -> N x 9 x 16 x C block means, as two matrix products (edges
        that do not divide evenly are left out)."""
        _, height, width, _ = values.shape
        if self._pool is None:
            self._pool = (_pooling(GRID[0], height), _pooling(GRID[1], width).T)
        rows, cols = self._pool
        planes = values.transpose(0, 3, 1, 2)  # N x C x H x W
        return (rows @ planes @ cols).transpose(0, 2, 3, 1)

    def forget_before(self, position: int) -> None:
        """Drop frames older than `position` (never more than the window can spare)."""
        position = min(position, self.end - 2, self.end - self.capacity)
        drop = position - self.start
        if drop <= 0:
            return
        self._frames.drop(drop)
        for rows in self._series.values():
            rows.drop(drop)
        self.start = position

    def series(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Feature `name` for positions [lo, hi) (clipped to what is held)."""
        lo, hi = max(lo, self.start), min(hi, self.end)
        return self._series[name].rows[lo - self.start:max(lo, hi) - self.start]

    def value(self, name: str, position: int):
        return self._series[name].rows[position - self.start]

    def frame(self, position: int) -> np.ndarray:
        return self._frames.rows[position - self.start]

    def index(self, position: int) -> int:
        return int(self._series["index"].rows[position - self.start])

    def time(self, position: int) -> float:
        return float(self._series["time"].rows[position - self.start])

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
