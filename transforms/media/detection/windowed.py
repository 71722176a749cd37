"""Detectors built from finders over a FrameWindow: the scheduling and the rules that merge them.

A finder looks at the window and proposes candidate transitions for the frames it may now decide
(those whose look-ahead has arrived). Candidates are held until every candidate that could
compete with them is known, then resolved:

1. candidates of one kind that are one transition (a dissolve is seen at many centres and
   scales): the strongest within its finder's `merge_radius` stands for it;
2. a fade wins over a dissolve inside it (a fade is a dissolve through black or white);
3. a cut inside a gradual transition belongs to it: dropped, except a hard cut into the blank
   frames of a fade, which then marks where that fade's boundary sits;
4. minimum scene length (min_length.py).

Every rule looks a bounded distance around a candidate, so a decision depends on a bounded
stretch of frames: `context_frames` before and `lookahead_frames` after.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection.base import DEFAULT_BATCH_FRAMES, Boundary, ShotDetector
from sceneline.transforms.media.detection.min_length import MinSceneLength
from sceneline.transforms.media.detection.window import FrameWindow

DEFAULT_MIN_SCENE_S = 0.4


@dataclass(frozen=True)
class Candidate:
    """A proposed boundary; positions count frames from the start of the stream."""

    position: int
    kind: TransitionKind
    start: int  # span of the transition (inclusive)
    end: int
    score: float
    blank_start: int | None = None  # fades: the first blank frame

    def spans(self, position: int, margin: int = 0) -> bool:
        return self.start - margin <= position <= self.end + margin


class Finder(Protocol):
    lookback: int  # frames before a decision position that a decision reads
    lookahead: int  # frames after it
    delay: int  # how far before its decision position a candidate may sit
    longest: int  # the longest span a candidate may have
    merge_radius: int  # its candidates closer than this are one transition
    kind: TransitionKind  # the kind of candidate it proposes

    def find(self, window: FrameWindow, lo: int, hi: int, final: bool, stream_start: bool) -> list[Candidate]:
        """Candidates decided at positions [lo, hi); `final`: no more frames will come."""


def resolve(candidates: Sequence[Candidate], min_length: MinSceneLength, first_allowed: int | None,
            merge_radius: dict[TransitionKind, int]) -> list[Candidate]:
    """Apply the merge rules (module docstring) to held candidates; survivors in order."""
    def strongest(kind: TransitionKind) -> list[Candidate]:
        same = [c for c in candidates if c.kind is kind]
        radius = merge_radius.get(kind, 0)
        return [c for c in same if not any(_beats(o, c) for o in same
                                           if o is not c and abs(o.position - c.position) <= radius)]

    dissolves, fades, cuts = (strongest(k) for k in (TransitionKind.DISSOLVE, TransitionKind.FADE, TransitionKind.CUT))
    dissolves = [d for d in dissolves if not any(f.spans(d.position, 2) for f in fades)]
    placed_fades = []
    for f in fades:
        into = [c for c in cuts if f.start <= c.position <= (f.blank_start if f.blank_start is not None else f.start) + 1]
        placed_fades.append(replace(f, position=into[-1].position, start=into[-1].position) if into else f)
    gradual = placed_fades + dissolves
    cuts = [c for c in cuts if not any(g.spans(c.position, 1) for g in gradual)]
    return min_length.keep(gradual + cuts, first_allowed)


def _beats(other: Candidate, c: Candidate) -> bool:
    return other.score > c.score or (other.score == c.score and other.position < c.position)


class WindowedDetector(ShotDetector):
    """A ShotDetector made of finders; subclasses say which (`_finders`)."""

    def __init__(self, fps: float = 25.0, *, min_scene_s: float = DEFAULT_MIN_SCENE_S,
                 batch_frames: int = DEFAULT_BATCH_FRAMES):
        super().__init__(fps, batch_frames=batch_frames)
        self.min_length = MinSceneLength(self.frames_for(min_scene_s))
        self.finders: list[Finder] = self._finders()
        lookback = max(f.lookback for f in self.finders)
        self._delay = max(f.delay for f in self.finders)
        longest = max(f.longest for f in self.finders)
        self._merge_radius = {f.kind: f.merge_radius for f in self.finders}
        # Rules 1-4 chain: a cut's fate depends on a gradual transition spanning it, whose fate
        # depends on its neighbours (rules 1-2); rule 4 adds the minimum length.
        self._reach = 2 * longest + self.min_length.reach + 2
        self._context = lookback + self._reach
        self._lookahead = max(f.lookahead for f in self.finders) + self._delay + self._reach
        self.window = FrameWindow(capacity=self._context + self._delay + self._reach + 2)
        self._decided = 0  # positions below have been shown to every finder
        self._emitted = 0  # candidates below this position are final
        self._held: list[Candidate] = []

    def _finders(self) -> list[Finder]:
        raise NotImplementedError

    @property
    def context_frames(self) -> int:
        return self._context

    @property
    def lookahead_frames(self) -> int:
        return self._lookahead

    def process_batch(self, indices: np.ndarray, times: np.ndarray, frames: np.ndarray) -> list[Boundary]:
        self.window.append(indices, times, frames)
        return self._advance(final=False)

    def _finish(self) -> list[Boundary]:
        return self._advance(final=True)

    def _advance(self, final: bool) -> list[Boundary]:
        window = self.window
        hi = window.end if final else window.end - max(f.lookahead for f in self.finders)
        if hi > self._decided:
            for finder in self.finders:
                self._hold(finder.find(window, self._decided, hi, final, self.stream_start))
            self._decided = hi
        cutoff = window.end + 1 if final else self._decided - self._delay - self._reach
        if cutoff <= self._emitted:
            return []
        first_allowed = 0 if self.stream_start else None
        final_now = [c for c in resolve(self._held, self.min_length, first_allowed, self._merge_radius)
                     if self._emitted <= c.position < cutoff]
        boundaries = [self._boundary(c) for c in final_now]
        self._emitted = cutoff
        self._held = [c for c in self._held if c.position >= cutoff - self._reach]
        window.forget_before(min(self._decided, cutoff) - self._context)
        return boundaries

    def _hold(self, found: list[Candidate]) -> None:
        # One candidate per frame and kind (a two-frame cut is proposed from both of its frames).
        best: dict[tuple[int, TransitionKind], Candidate] = {}
        for c in self._held + found:
            key = (c.position, c.kind)
            if key not in best or c.score > best[key].score:
                best[key] = c
        self._held = sorted(best.values(), key=lambda c: c.position)

    def _boundary(self, c: Candidate) -> Boundary:
        w = self.window
        return Boundary(frame=w.index(c.position), time_s=w.time(c.position), kind=c.kind,
                        transition_start=w.index(c.start), transition_end=w.index(c.end),
                        score=round(float(c.score), 3))
