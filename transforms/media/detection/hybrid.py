"""The hybrid detector: hard cuts, fades and dissolves together, on one set of small frames."""

from __future__ import annotations

from sceneline.transforms.media.detection.base import DEFAULT_BATCH_FRAMES
from sceneline.transforms.media.detection.content import CutFinder
from sceneline.transforms.media.detection.gradual import DISSOLVE_SCALES_S, DissolveFinder, FadeFinder
from sceneline.transforms.media.detection.windowed import DEFAULT_MIN_SCENE_S, WindowedDetector


class HybridDetector(WindowedDetector):
    """Hard cuts (as ContentDetector), fades and dissolves (as GradualDetector) in one pass.

    Takes ContentDetector's arguments for cuts (threshold, flash_s), GradualDetector's for fades
    and dissolves (max_fade_s, max_blank_s, scales_s), and both detectors' min_scene_s and
    batch_frames; each means what it means there.
    """

    name = "hybrid"
    input_size = (64, 36)
    input_format = "rgb24"

    def __init__(self, fps: float = 25.0, *, threshold: float = 12.0, flash_s: float = 0.25,
                 max_fade_s: float = 1.0, max_blank_s: float = 2.0, scales_s: tuple[float, ...] = DISSOLVE_SCALES_S,
                 min_scene_s: float = DEFAULT_MIN_SCENE_S, batch_frames: int = DEFAULT_BATCH_FRAMES):
        self.cut_options = {"threshold": threshold, "flash_s": flash_s}
        self.fade_options = {"max_fade_s": max_fade_s, "max_blank_s": max_blank_s}
        self.dissolve_options = {"scales_s": tuple(scales_s)}
        super().__init__(fps, min_scene_s=min_scene_s, batch_frames=batch_frames)

    def _finders(self):
        return [CutFinder(self.fps, **self.cut_options), FadeFinder(self.fps, **self.fade_options),
                DissolveFinder(self.fps, **self.dissolve_options)]
