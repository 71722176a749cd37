"""Assemble scenes from detector boundaries, choosing keyframes in the same single decode pass.

While frames stream past, a few per second are kept (small, display-correct RGB) as keyframe
candidates. When a boundary closes a shot, keyframes are chosen from that shot's candidates
and the rest are dropped, so memory is bounded by one shot, never the length of the video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sceneline.schemas.scenes import Keyframe, Scene, TransitionKind
from sceneline.transforms.detection.base import Boundary
from sceneline.transforms.keyframes import encode_jpeg


@dataclass
class KeyframePolicy:
    sample_interval_s: float = 0.25  # candidate spacing while a shot is open
    max_candidates: int = 32  # per open shot; past this, every other one is dropped
    max_keyframes: int = 3
    seconds_per_keyframe: float = 6.0  # a shot gets one more keyframe per this much length


@dataclass
class _Candidate:
    index: int
    time_s: float
    rgb: np.ndarray


@dataclass
class SceneBuilder:
    """Turn a stream of frames and boundaries into scenes with keyframes."""

    policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    _candidates: list[_Candidate] = field(default_factory=list)
    _interval: float = 0.0
    _next_sample_s: float = 0.0
    _shot_start: tuple[int, float, TransitionKind] = (0, 0.0, TransitionKind.START)
    _scenes_made: int = 0
    _last_frame: tuple[int, float] = (-1, 0.0)

    def __post_init__(self) -> None:
        self._interval = self.policy.sample_interval_s

    def wants_candidate(self, time_s: float) -> bool:
        return time_s >= self._next_sample_s

    def add_candidate(self, index: int, time_s: float, rgb: np.ndarray) -> None:
        self._candidates.append(_Candidate(index, time_s, rgb))
        self._next_sample_s = time_s + self._interval
        if len(self._candidates) > self.policy.max_candidates:
            # A long shot: keep every other candidate and sample half as often from now on.
            self._candidates = self._candidates[::2]
            self._interval *= 2

    def saw_frame(self, index: int, time_s: float) -> None:
        self._last_frame = (index, time_s)

    def _choose(self, shot: list[_Candidate], start_s: float, end_s: float) -> list[_Candidate]:
        if not shot:
            return []
        p = self.policy
        n = int(min(p.max_keyframes, 1 + (end_s - start_s) // p.seconds_per_keyframe, len(shot)))
        # Evenly spaced interior positions (1/2; 1/3, 2/3; ...), away from the transitions.
        targets = [start_s + (end_s - start_s) * (k + 1) / (n + 1) for k in range(n)]
        chosen: list[_Candidate] = []
        for t in targets:
            best = min(shot, key=lambda c: abs(c.time_s - t))
            if best not in chosen:
                chosen.append(best)
        return sorted(chosen, key=lambda c: c.index)

    def _close(self, end_index: int, end_s: float) -> Scene:
        start_index, start_s, kind = self._shot_start
        shot = [c for c in self._candidates if c.index < end_index]
        if not shot and self._candidates:
            # A shot shorter than the sampling interval: borrow the nearest candidate.
            shot = [min(self._candidates, key=lambda c: abs(c.index - start_index))]
        keyframes = [
            Keyframe(time_s=round(c.time_s, 6), frame=c.index, jpeg=encode_jpeg(c.rgb),
                     width=c.rgb.shape[1], height=c.rgb.shape[0])
            for c in self._choose(shot, start_s, end_s)
        ]
        scene = Scene(index=self._scenes_made, start_s=round(start_s, 6), end_s=round(end_s, 6),
                      start_frame=start_index, end_frame=max(start_index, end_index - 1),
                      transition_in=kind, keyframes=keyframes)
        self._scenes_made += 1
        return scene

    def add_boundary(self, b: Boundary) -> Scene | None:
        """A new shot starts at b.frame: close the open one and return it as a scene."""
        if b.frame <= self._shot_start[0]:
            return None  # a boundary at or before the open shot's start adds nothing
        scene = self._close(b.frame, b.time_s)
        self._candidates = [c for c in self._candidates if c.index >= b.frame]
        self._interval = self.policy.sample_interval_s
        self._shot_start = (b.frame, b.time_s, b.kind)
        return scene

    def finish(self, end_s: float) -> Scene | None:
        """The video ended at end_s: close the last shot (if any frame was seen)."""
        last_index, _ = self._last_frame
        if last_index < 0:
            return None
        scene = self._close(last_index + 1, max(end_s, self._shot_start[1]))
        self._candidates = []
        return scene
