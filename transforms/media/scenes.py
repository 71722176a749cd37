"""Assemble scenes from detector boundaries, choosing keyframes in the same single decode pass.

While frames stream past, a few per second are kept (small, display-correct RGB) as keyframe
candidates. When a boundary closes a shot, keyframes are chosen from that shot's candidates
and the rest are dropped. Boundaries arrive up to `settle_s` after their frame (detectors look
ahead), so the candidates of that recent stretch are all kept; older ones belong to the open
shot for sure and are thinned to `max_candidates`. Memory is bounded by that stretch and one
shot's candidates, never by the length of the video.

A segment of a long video (transforms/media/segments.py) sees only part of its first and last shots:
those come out as open `ShotPiece`s carrying their candidates (as JPEG), and the stitch joins
the pieces of one shot across segment edges before choosing its keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, TypeVar

import numpy as np
from pydantic import BaseModel, Field

from sceneline.schemas.scenes import Keyframe, Scene, TransitionKind
from sceneline.transforms.media.detection.base import Boundary
from sceneline.transforms.media.keyframes import encode_jpeg


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


class _Timed(Protocol):
    time_s: float


C = TypeVar("C", bound=_Timed)


def choose_keyframes(policy: KeyframePolicy, shot: Sequence[C], start_s: float, end_s: float) -> list[C]:
    """Up to max_keyframes candidates nearest evenly spaced interior points (1/2; 1/3, 2/3; ...),
    away from the transitions, in time order."""
    if not shot:
        return []
    n = int(min(policy.max_keyframes, 1 + (end_s - start_s) // policy.seconds_per_keyframe, len(shot)))
    targets = [start_s + (end_s - start_s) * (k + 1) / (n + 1) for k in range(n)]
    chosen: list[C] = []
    for t in targets:
        best = min(shot, key=lambda c: abs(c.time_s - t))
        if best not in chosen:
            chosen.append(best)
    return sorted(chosen, key=lambda c: c.time_s)


def thin(candidates: list[C], limit: int) -> list[C]:
    """Keep every other candidate until at most `limit` remain (a long shot's even spread)."""
    while len(candidates) > limit:
        candidates = candidates[::2]
    return candidates


class ShotPiece(BaseModel):
    """A shot, or the part of one a segment saw. Frames are counted within the segment; the end
    frame is exclusive. An open piece continues into the previous (`open_start`) or next
    (`open_end`) segment and carries its keyframe candidates; a closed one its keyframes."""

    start_frame: int
    start_s: float
    end_frame: int
    end_s: float
    transition_in: TransitionKind = TransitionKind.START
    open_start: bool = False
    open_end: bool = False
    keyframes: list[Keyframe] = Field(default_factory=list)
    candidates: list[Keyframe] = Field(default_factory=list)


def _as_keyframe(c: _Candidate) -> Keyframe:
    return Keyframe(time_s=round(c.time_s, 6), frame=c.index, jpeg=encode_jpeg(c.rgb),
                    width=c.rgb.shape[1], height=c.rgb.shape[0])


@dataclass
class SceneBuilder:
    """Turn a stream of frames and boundaries into scenes with keyframes."""

    policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    open_start: bool = False  # the first shot began before the first frame seen (a later segment)
    settle_s: float = 0.0  # how long after its frame a boundary may still arrive
    _candidates: list[_Candidate] = field(default_factory=list)
    _interval: float = 0.0
    _next_sample_s: float = 0.0
    _shot_start: tuple[int, float, TransitionKind] | None = None
    _first_shot: bool = True
    _scenes_made: int = 0
    _last_frame: tuple[int, float] = (-1, 0.0)

    def __post_init__(self) -> None:
        self._interval = self.policy.sample_interval_s

    def wants_candidate(self, time_s: float) -> bool:
        return time_s >= self._next_sample_s

    def add_candidate(self, index: int, time_s: float, rgb: np.ndarray) -> None:
        self._candidates.append(_Candidate(index, time_s, rgb))
        self._next_sample_s = time_s + self._interval
        settled = sum(1 for c in self._candidates if c.time_s <= time_s - self.settle_s)
        if settled > self.policy.max_candidates:
            # A long shot: keep every other candidate that no boundary can still come between, and
            # sample half as often from now on.
            self._candidates = self._candidates[:settled][::2] + self._candidates[settled:]
            self._interval *= 2

    def saw_frame(self, index: int, time_s: float) -> None:
        if self._shot_start is None:
            self._shot_start = (index, time_s, TransitionKind.START)
        self._last_frame = (index, time_s)

    def _piece(self, end_index: int, end_s: float, open_end: bool) -> ShotPiece:
        start_index, start_s, kind = self._shot_start or (0, 0.0, TransitionKind.START)
        shot = [c for c in self._candidates if c.index < end_index]
        if not shot and self._candidates:
            # A shot shorter than the sampling interval: borrow the nearest candidate.
            shot = [min(self._candidates, key=lambda c: abs(c.index - start_index))]
        open_start = self.open_start and self._first_shot
        self._first_shot = False
        piece = ShotPiece(start_frame=start_index, start_s=round(start_s, 6), end_frame=end_index,
                          end_s=round(end_s, 6), transition_in=kind, open_start=open_start, open_end=open_end)
        if open_start or open_end:
            piece.candidates = [_as_keyframe(c) for c in shot]
        else:
            piece.keyframes = [_as_keyframe(c) for c in choose_keyframes(self.policy, shot, start_s, end_s)]
        return piece

    def _scene(self, piece: ShotPiece) -> Scene:
        scene = scene_from_piece(piece, self._scenes_made)
        self._scenes_made += 1
        return scene

    def add_boundary_piece(self, b: Boundary) -> ShotPiece | None:
        """A new shot starts at b.frame: close the open one and return it."""
        if self._shot_start is not None and b.frame == self._shot_start[0] and self.open_start and self._first_shot:
            # A later segment whose first frame starts a shot: the shot before ended in the last segment.
            self._shot_start = (b.frame, b.time_s, b.kind)
            self._first_shot = False
            return None
        if self._shot_start is None or b.frame <= self._shot_start[0]:
            return None  # a boundary at or before the open shot's start adds nothing
        piece = self._piece(b.frame, b.time_s, open_end=False)
        self._candidates = [c for c in self._candidates if c.index >= b.frame]
        self._interval = self.policy.sample_interval_s
        self._shot_start = (b.frame, b.time_s, b.kind)
        return piece

    def finish_piece(self, end_s: float, open_end: bool = False) -> ShotPiece | None:
        """The frames ended at end_s: close the last shot (if any frame was seen)."""
        last_index, _ = self._last_frame
        if last_index < 0 or self._shot_start is None:
            return None
        piece = self._piece(last_index + 1, max(end_s, self._shot_start[1]), open_end=open_end)
        self._candidates = []
        return piece

    def add_boundary(self, b: Boundary) -> Scene | None:
        """A new shot starts at b.frame: close the open one and return it as a scene."""
        piece = self.add_boundary_piece(b)
        return None if piece is None else self._scene(piece)

    def finish(self, end_s: float) -> Scene | None:
        """The video ended at end_s: close the last shot (if any frame was seen)."""
        piece = self.finish_piece(end_s)
        return None if piece is None else self._scene(piece)


def scene_from_piece(piece: ShotPiece, index: int, policy: KeyframePolicy | None = None) -> Scene:
    """A complete shot as a scene; keyframes are chosen here when the piece carries candidates."""
    keyframes = piece.keyframes or choose_keyframes(policy or KeyframePolicy(), piece.candidates,
                                                    piece.start_s, piece.end_s)
    return Scene(index=index, start_s=piece.start_s, end_s=piece.end_s, start_frame=piece.start_frame,
                 end_frame=max(piece.start_frame, piece.end_frame - 1), transition_in=piece.transition_in,
                 keyframes=list(keyframes))
