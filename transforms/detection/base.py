"""One interface for every shot detector.

A detector is fed small decoded frames in presentation order and answers with the shot
boundaries it is sure of so far. Boundaries may come some frames late (a detector that needs
to look ahead says how far in `latency_frames`); `flush()` returns the rest at the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sceneline.schemas.scenes import TransitionKind


@dataclass(frozen=True)
class Boundary:
    """The start of a new shot."""

    frame: int  # index of the first frame of the new shot
    time_s: float
    kind: TransitionKind = TransitionKind.CUT
    # For gradual transitions, the frames the transition spans (inclusive); cuts span one frame.
    transition_start: int | None = None
    transition_end: int | None = None
    score: float = 0.0


class ShotDetector(ABC):
    """Base class: subclasses set `name`, the frame size and pixel format they want."""

    name: ClassVar[str]
    input_size: ClassVar[tuple[int, int]] = (64, 36)  # width, height
    input_format: ClassVar[str] = "rgb24"
    latency_frames: ClassVar[int] = 0

    def __init__(self, fps: float = 25.0):
        self.fps = fps if fps and fps > 0 else 25.0

    @abstractmethod
    def process(self, index: int, time_s: float, frame: np.ndarray) -> list[Boundary]:
        """Take the next frame; return boundaries now certain, in order."""

    def flush(self) -> list[Boundary]:
        """The stream has ended: return boundaries still held back."""
        return []
