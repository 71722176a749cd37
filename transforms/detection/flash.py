"""Flash filter: camera flashes, strobe and one-frame glitches are not shot boundaries.

A flash changes the picture as much as a cut does, but only for a few frames: afterwards the
shot resumes. So a candidate boundary at frame i is an interruption, not a cut, when some frame
shortly after i looks like some frame shortly before it (both within `max_frames`).
"""

from __future__ import annotations

from sceneline.transforms.detection.window import FrameWindow, mean_abs_diff


class FlashFilter:
    def __init__(self, max_frames: int):
        self.max_frames = max(1, max_frames)

    @property
    def lookback(self) -> int:
        return self.max_frames

    @property
    def lookahead(self) -> int:
        return self.max_frames

    def interrupted(self, window: FrameWindow, position: int, similar_below: float) -> bool:
        """True when the picture returns to what it was before `position` within the flash length."""
        span = self.max_frames
        for before in range(max(window.start, position - span), position):
            reference = window.frame(before)
            for after in range(position, min(window.end, before + span + 1)):
                if mean_abs_diff(window.frame(after), reference) < similar_below:
                    return True
        return False
