"""The hybrid detector: hard cuts, fades and dissolves together, on one set of small frames."""

from __future__ import annotations

from sceneline.transforms.media.detection.content import CutFinder
from sceneline.transforms.media.detection.gradual import DissolveFinder, FadeFinder
from sceneline.transforms.media.detection.windowed import WindowedDetector


class HybridDetector(WindowedDetector):
    name = "hybrid"
    input_size = (64, 36)
    input_format = "rgb24"

    def _finders(self):
        return [CutFinder(self.fps), FadeFinder(self.fps), DissolveFinder(self.fps)]
