"""One interface for every shot detector.

A detector is fed small decoded frames in presentation order and answers with the shot
boundaries it is sure of so far. Frames come one at a time (`process`) or as a batch
(`process_batch`, one array of N frames): detectors do their arithmetic on whole batches, and
single frames are buffered into batches, so per-frame Python work stays small. Boundaries may
come late: a detector looks `lookahead_frames` past a frame before it decides on it, and
`flush()` returns the rest at the end of the stream.

Every decision about frame i uses only frames in [i - context_frames, i + lookahead_frames].
That bound is what lets a long video be cut into segments that are analysed apart and stitched
(transforms/media/segments.py): a segment that starts `context_frames` early finds exactly the
boundaries an unsegmented run finds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sceneline.schemas.scenes import TransitionKind

# Frames collected by `process()` before the batch is handed to `process_batch()`.
DEFAULT_BATCH_FRAMES = 64


@dataclass(frozen=True)
class Boundary:
    """The start of a new shot.

    For a gradual transition the boundary sits inside the span it reports: a dissolve's at its
    middle, a fade's where the new picture starts to appear (or at the hard cut into the blank
    frames, when the old shot ends with one).
    """

    frame: int  # index of the first frame of the new shot
    time_s: float
    kind: TransitionKind = TransitionKind.CUT
    # The frames the transition spans (inclusive); a cut spans its one frame.
    transition_start: int | None = None
    transition_end: int | None = None
    score: float = 0.0


class ShotDetector(ABC):
    """Base class: subclasses set `name`, the frame size and pixel format they want."""

    name: ClassVar[str]
    input_size: ClassVar[tuple[int, int]] = (64, 36)  # width, height
    input_format: ClassVar[str] = "rgb24"

    def __init__(self, fps: float = 25.0, *, batch_frames: int = DEFAULT_BATCH_FRAMES):
        self.fps = fps if fps and fps > 0 else 25.0
        self.batch_frames = batch_frames
        # False for a segment that starts inside a video: nothing before it is the video's start.
        self.stream_start = True
        self._buffer: list[np.ndarray] = []
        self._buffer_index: list[int] = []
        self._buffer_time: list[float] = []

    # How far a decision about one frame looks back and ahead, in frames.
    @property
    def context_frames(self) -> int:
        return 0

    @property
    def lookahead_frames(self) -> int:
        return 0

    def frames_for(self, seconds: float, at_least: int = 1) -> int:
        """A duration in frames at this detector's frame rate."""
        return max(at_least, int(round(seconds * self.fps)))

    def process(self, index: int, time_s: float, frame: np.ndarray) -> list[Boundary]:
        """Take the next frame; return boundaries now certain, in order."""
        self._buffer.append(frame)
        self._buffer_index.append(index)
        self._buffer_time.append(time_s)
        if len(self._buffer) < self.batch_frames:
            return []
        return self._drain()

    def _drain(self) -> list[Boundary]:
        if not self._buffer:
            return []
        frames = np.stack(self._buffer)
        indices = np.asarray(self._buffer_index, dtype=np.int64)
        times = np.asarray(self._buffer_time, dtype=np.float64)
        self._buffer, self._buffer_index, self._buffer_time = [], [], []
        return self.process_batch(indices, times, frames)

    @abstractmethod
    def process_batch(self, indices: np.ndarray, times: np.ndarray, frames: np.ndarray) -> list[Boundary]:
        """Take the next N frames (N x H x W x C); return boundaries now certain, in order."""

    def flush(self) -> list[Boundary]:
        """The stream has ended: return boundaries still held back."""
        found = self._drain()
        return found + self._finish()

    def _finish(self) -> list[Boundary]:
        """Subclasses decide the frames whose look-ahead the stream never gave them."""
        return []
