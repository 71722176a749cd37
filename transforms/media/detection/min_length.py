"""Minimum scene length: of boundaries closer together than the minimum, the strongest wins.

The rule is local on purpose: a boundary is kept unless a stronger one lies less than
`min_frames` away (on equal strength the earlier wins). Unlike a greedy pass from the start, the
outcome for one boundary depends only on its neighbours, so segments of a long video that are
analysed apart agree with an unsegmented run.
"""

from __future__ import annotations

from typing import Protocol, Sequence, TypeVar


class Scored(Protocol):
    position: int
    score: float


T = TypeVar("T", bound=Scored)


class MinSceneLength:
    def __init__(self, min_frames: int):
        self.min_frames = max(1, min_frames)

    @property
    def reach(self) -> int:
        return self.min_frames

    def keep(self, candidates: Sequence[T], first_allowed: int | None = 0) -> list[T]:
        """The candidates that survive, in order. `first_allowed`: the stream's first frame when
        it is the start of the video (no scene may be shorter than the minimum there either)."""
        ordered = sorted(candidates, key=lambda c: c.position)
        kept = []
        for i, c in enumerate(ordered):
            if first_allowed is not None and c.position - first_allowed < self.min_frames:
                continue
            if any(self._beats(o, c) for o in self._near(ordered, i)):
                continue
            kept.append(c)
        return kept

    def _near(self, ordered: Sequence[T], i: int):
        c = ordered[i]
        j = i - 1
        while j >= 0 and c.position - ordered[j].position < self.min_frames:
            yield ordered[j]
            j -= 1
        j = i + 1
        while j < len(ordered) and ordered[j].position - c.position < self.min_frames:
            yield ordered[j]
            j += 1

    @staticmethod
    def _beats(other: Scored, c: Scored) -> bool:
        return other.score > c.score or (other.score == c.score and other.position < c.position)
