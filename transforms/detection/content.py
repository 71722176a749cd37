"""Content detector: hard cuts from frame-to-frame colour change on small frames.

Each frame's score is the mean absolute RGB difference from the previous frame (0-255). A cut
is a score that is both large in absolute terms and large against its neighbourhood (so camera
motion, which raises every score, does not fire), at least `min_scene_s` after the last cut.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.detection.base import Boundary, ShotDetector


class ContentDetector(ShotDetector):
    name = "content"
    input_size = (64, 36)
    input_format = "rgb24"

    def __init__(
        self,
        fps: float = 25.0,
        *,
        threshold: float = 18.0,
        ratio: float = 3.0,
        window: int = 2,
        min_scene_s: float = 0.4,
    ):
        super().__init__(fps)
        self.threshold = threshold
        self.ratio = ratio
        self.window = window
        self.min_scene_frames = max(1, int(round(min_scene_s * self.fps)))
        self.latency_frames = window
        self._prev: np.ndarray | None = None
        # (index, time, score) of frames not yet judged: the candidate sits in the middle.
        self._pending: deque[tuple[int, float, float]] = deque()
        self._last_cut = 0

    def _score(self, frame: np.ndarray) -> float:
        cur = frame.astype(np.int16)
        score = 0.0 if self._prev is None else float(np.abs(cur - self._prev).mean())
        self._prev = cur
        return score

    def _judge(self, centre: int) -> Boundary | None:
        items = list(self._pending)
        index, time_s, score = items[centre]
        if index == 0 or score < self.threshold:
            return None
        neighbours = [s for j, (_, _, s) in enumerate(items) if j != centre]
        local = float(np.mean(neighbours)) if neighbours else 0.0
        if score < self.ratio * max(local, 1.0):
            return None
        if index - self._last_cut < self.min_scene_frames:
            return None
        self._last_cut = index
        return Boundary(frame=index, time_s=time_s, kind=TransitionKind.CUT,
                        transition_start=index, transition_end=index, score=score)

    def process(self, index: int, time_s: float, frame: np.ndarray) -> list[Boundary]:
        self._pending.append((index, time_s, self._score(frame)))
        if len(self._pending) > 2 * self.window + 1:
            self._pending.popleft()
        # Each frame is judged once, as soon as `window` frames after it are known.
        centre = len(self._pending) - 1 - self.window
        found = self._judge(centre) if centre >= 0 else None
        return [found] if found else []

    def flush(self) -> list[Boundary]:
        # The last `window` frames never had a full look-ahead: judge them with what there is.
        items = len(self._pending)
        out = [b for c in range(max(0, items - self.window), items) if (b := self._judge(c))]
        self._pending.clear()
        return out
