"""Scoring shot boundaries against ground truth, by the convention of ../shared/media/README.md.

A detected boundary matches a cut when it lies within +-2 frames of the cut's frame, and a
gradual transition (dissolve, fade) when it lies inside [start - 2, end + 2]; each true
transition is matched at most once (nearest detection first). Detections inside an `ignore`
range (ambiguous footage, see annotations/real_videos.json) count neither way.

Counts are kept per kind of true transition: a matched detection counts for the kind it
matched; an unmatched one (a false positive) counts against the kind the detector said it was
(a detector that names no kind, like PySceneDetect, is taken to report cuts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

TOLERANCE = 2
GRADUAL = ("dissolve", "fade")


@dataclass(frozen=True)
class TrueTransition:
    kind: str  # cut, dissolve, fade
    start: int
    end: int  # = start for a cut

    @property
    def category(self) -> str:
        return "cut" if self.kind == "cut" else "gradual"

    def window(self) -> tuple[int, int]:
        return (self.start - TOLERANCE, self.end + TOLERANCE)


@dataclass
class Truth:
    transitions: list[TrueTransition]
    ignore: list[tuple[int, int]] = field(default_factory=list)


def truth_from_json(entry: dict) -> Truth:
    """A ground-truth .gt.json document, or one video's entry in annotations/real_videos.json."""
    transitions = []
    for t in entry["transitions"]:
        kind = t["type"]
        if kind == "cut":
            transitions.append(TrueTransition("cut", t["frame"], t["frame"]))
        else:
            transitions.append(TrueTransition("fade" if kind.startswith("fade") else "dissolve", t["start"], t["end"]))
    return Truth(transitions, [tuple(r) for r in entry.get("ignore", [])])


def load_annotations(path: Path) -> dict[str, Truth]:
    doc = json.loads(path.read_text())
    return {name: truth_from_json(entry) for name, entry in doc["videos"].items()}


@dataclass
class Counts:
    tp: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    fn: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    fp: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    kind_right: int = 0  # matched detections whose kind is the true transition's

    def add(self, other: "Counts") -> None:
        for name in ("tp", "fn", "fp"):
            for k, v in getattr(other, name).items():
                getattr(self, name)[k] += v
        self.kind_right += other.kind_right

    def prf(self, category: str | None = None) -> tuple[float, float, float]:
        """Precision, recall and F1 for one category (cut, gradual) or all transitions."""
        keys = [category] if category else ["cut", "gradual"]
        tp = sum(self.tp[k] for k in keys)
        fp = sum(self.fp[k] for k in keys)
        fn = sum(self.fn[k] for k in keys)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def score(detections: Iterable[tuple[int, str | None]], truth: Truth) -> tuple[Counts, list[int], list[TrueTransition]]:
    """Match (frame, kind) detections to the truth; returns counts, false positives, misses."""
    counts = Counts()
    free = list(truth.transitions)
    false_positives: list[int] = []
    for frame, kind in sorted(detections, key=lambda d: d[0]):
        if any(lo <= frame <= hi for lo, hi in truth.ignore):
            continue
        inside = [t for t in free if t.window()[0] <= frame <= t.window()[1]]
        if not inside:
            false_positives.append(frame)
            counts.fp["gradual" if kind in GRADUAL else "cut"] += 1
            continue
        best = min(inside, key=lambda t: abs(frame - (t.start + t.end) / 2))
        free.remove(best)
        counts.tp[best.category] += 1
        counts.kind_right += kind == best.kind
    for t in free:
        counts.fn[t.category] += 1
    return counts, false_positives, free


def total(counts: Sequence[Counts]) -> Counts:
    out = Counts()
    for c in counts:
        out.add(c)
    return out
