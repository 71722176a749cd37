"""Flash filter: camera flashes, strobe and one-frame glitches are not shot boundaries.

A flash changes the picture as much as a cut does, but only for a few frames: afterwards the
shot resumes. So a candidate boundary at frame i is an interruption, not a cut, when some frame
shortly after i looks like some frame shortly before it (both within `max_frames`). "Looks
like" allows for the motion of the shot across the flash (a few times the usual change between
neighbouring frames there), never for the change the candidate itself made.
"""

from __future__ import annotations

import numpy as np

from sceneline.transforms.media.detection.compare import mean_abs_diff
from sceneline.transforms.media.detection.window import FrameWindow


class FlashFilter:
    def __init__(self, max_frames: int, *, min_similar_below: float = 12.0, motion_allowance: float = 3.0):
        self.max_frames = max(1, max_frames)
        self.min_similar_below = min_similar_below
        self.motion_allowance = motion_allowance

    @property
    def lookback(self) -> int:
        return 2 * self.max_frames

    @property
    def lookahead(self) -> int:
        return 2 * self.max_frames

    def interrupted(self, window: FrameWindow, position: int, change: float) -> bool:
        """True when the picture returns to what it was before `position` within the flash
        length; `change`: how much the picture changed at `position`."""
        span = self.max_frames
        motion = float(np.median(window.series("diff1", position - 2 * span, position + 2 * span + 1)))
        similar_below = min(0.5 * change, max(self.min_similar_below, self.motion_allowance * motion))
        for before in range(max(window.start, position - span), position):
            reference = window.frame(before)
            for after in range(position, min(window.end, before + span + 1)):
                if mean_abs_diff(window.frame(after), reference) < similar_below:
                    return True
        return False
