"""Content detector: hard cuts from frame-to-frame change on small frames, with an adaptive threshold.

A frame is a candidate cut when its change from the frame before (mean absolute RGB difference,
0-255) is large in absolute terms and large against the change around it: the median change of
the frames before and after (an adaptive threshold, so camera motion, which raises every
score, does not fire). Cuts smeared over two frames (frame-rate conversion blends one frame of
each shot) are caught by the same test on the change over two frames.

A candidate becomes a cut only if the picture really changed:
- most of the picture changed, not a region (a title popping up, an object entering);
- it is not an interruption (flash.py: a flash, strobe or a glitch frame);
- the picture changed, not only its exposure or framing (compare.py: this rejects exposure
  jumps, jerky camera motion and motion blur).
"""

from __future__ import annotations

import warnings

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection.compare import Coverage, PictureChange
from sceneline.transforms.media.detection.flash import FlashFilter
from sceneline.transforms.media.detection.window import FrameWindow
from sceneline.transforms.media.detection.base import DEFAULT_BATCH_FRAMES
from sceneline.transforms.media.detection.windowed import DEFAULT_MIN_SCENE_S, Candidate, WindowedDetector


class CutFinder:
    def __init__(
        self,
        fps: float,
        *,
        threshold: float = 12.0,
        ratio: float = 2.0,
        margin: float = 10.0,
        neighbourhood_s: float = 0.25,
        flash_s: float = 0.25,
        coverage: Coverage = Coverage(min_share=0.3),
        change: PictureChange = PictureChange(),
    ):
        self.threshold = threshold
        self.ratio = ratio
        self.margin = margin
        self.neighbours = max(2, int(round(neighbourhood_s * fps)))
        self.flash = FlashFilter(max(2, int(round(flash_s * fps))))
        self.coverage = coverage
        self.change = change
        self.lookback = max(self.neighbours + 2, self.flash.lookback)
        self.lookahead = max(self.neighbours, self.flash.lookahead)
        self.delay = 1  # a two-frame cut may sit on the frame before its decision position
        self.longest = 1
        self.kind = TransitionKind.CUT
        self.merge_radius = 1  # a two-frame cut may be proposed at both of its frames

    def find(self, window: FrameWindow, lo: int, hi: int, final: bool, stream_start: bool) -> list[Candidate]:
        lo = max(lo, window.start + 1)
        if hi <= lo:
            return []
        one = self._passes(window, "diff1", lo, hi, valid_from=1)
        two = self._passes(window, "diff2", lo, hi, valid_from=2)
        positions: list[int] = []
        for offset in np.flatnonzero(one | two):
            p = lo + int(offset)
            if not one[offset] and p - 1 >= max(lo - 1, window.start + 1):
                # Smeared over two frames: the cut is where the larger one-frame change is.
                if window.value("diff1", p - 1) > window.value("diff1", p):
                    p -= 1
            if p not in positions:
                positions.append(p)
        found = []
        for p in positions:
            score = self._verify(window, p)
            if score is not None:
                found.append(Candidate(p, TransitionKind.CUT, p, p, score))
        return found

    def _passes(self, window: FrameWindow, name: str, lo: int, hi: int, valid_from: int) -> np.ndarray:
        """Adaptive threshold on a change series, for positions [lo, hi), all at once."""
        w = self.neighbours
        values = _series_with_gaps(window, name, lo - w, hi + w, valid_from)
        score = values[w:w + hi - lo]
        rolling = np.lib.stride_tricks.sliding_window_view(values, w)
        before, after = rolling[:hi - lo], rolling[w + 1:w + 1 + hi - lo]
        sides = np.stack([_median_rows(before), _median_rows(after)])
        with warnings.catch_warnings():  # no neighbours on either side: only at a stream's edges
            warnings.simplefilter("ignore", RuntimeWarning)
            base = np.nanmean(sides, axis=0)
        base = np.maximum(np.nan_to_num(base, nan=0.0), 2.0)
        need = np.maximum(self.ratio * base, base + self.margin)
        with np.errstate(invalid="ignore"):
            return (score >= self.threshold) & (score >= need)

    def _verify(self, window: FrameWindow, p: int) -> float | None:
        """The candidate's strength if the picture really changed, else None."""
        one, two = window.value("diff1", p), window.value("diff2", p)
        previous = p - 2 if p - 2 >= window.start and one < 0.6 * two else p - 1
        change = max(one, two if previous == p - 2 else 0.0)
        if not self.coverage.covers(window.value("cells", p), window.value("cells", previous)):
            return None
        if self.flash.interrupted(window, p, change):
            return None
        if not self.change.differ(window.frame(p), window.frame(previous)):
            return None
        return float(change)


class ContentDetector(WindowedDetector):
    """Hard cuts, from the change in content between neighbouring frames.

    Args:
        fps: frame rate of the video (times and lengths below are in seconds).
        threshold: least content change (0-255 scale) that can be a cut; lower finds more cuts.
        flash_s: a change that reverts within this long is a flash (a camera flash, a glitch), not a cut.
        min_scene_s: shortest scene; a boundary closer than this to the previous one is dropped.
        batch_frames: frames scored per batch.
    """

    name = "content"
    input_size = (64, 36)
    input_format = "rgb24"

    def __init__(self, fps: float = 25.0, *, threshold: float = 12.0, flash_s: float = 0.25,
                 min_scene_s: float = DEFAULT_MIN_SCENE_S, batch_frames: int = DEFAULT_BATCH_FRAMES):
        self.cut_options = {"threshold": threshold, "flash_s": flash_s}
        super().__init__(fps, min_scene_s=min_scene_s, batch_frames=batch_frames)

    def _finders(self):
        return [CutFinder(self.fps, **self.cut_options)]


def _series_with_gaps(window: FrameWindow, name: str, lo: int, hi: int, valid_from: int) -> np.ndarray:
    """Feature values for positions [lo, hi), NaN where there is no value (before the stream or
    the window, past the newest frame, or where the feature needs frames that never came)."""
    out = np.full(hi - lo, np.nan, np.float32)
    held = window.series(name, lo, hi)
    first = max(lo, window.start)
    out[first - lo:first - lo + len(held)] = held
    out[:max(0, min(hi, valid_from) - lo)] = np.nan
    return out


def _median_rows(rows: np.ndarray) -> np.ndarray:
    """Median of each row, ignoring missing values (rare: only near the stream's edges)."""
    median = np.median(rows, axis=1)
    gaps = np.isnan(median)
    if gaps.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median[gaps] = np.nanmedian(rows[gaps], axis=1)
    return median
