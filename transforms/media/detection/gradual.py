"""Gradual transitions: fades through black or white, and dissolves.

Fades. A run of blank frames (flat and dark, or flat and bright) between two shots, with the
fade-out before it and the fade-in after it, is one transition. Its boundary is where the new
picture starts to appear: the frame after the deepest blank frames (or, when the old shot ends
with a hard cut into the blank frames, that cut; windowed.py). A run after which the same
picture returns is a flash (flash.py) or a dip inside one shot, not a transition. A run at the
very start of a video is a black leader, not a transition.

Dissolves. In a dissolve every frame is a mix of the last frame of one shot (A) and the first of
the next (B), so the middle frame M is close to (A + B) / 2 everywhere in the picture. Camera
motion changes the picture as much but is not linear like that. On a coarse grid of the frames
with brightness removed, at several scales k (A = frame i-k, B = frame i+k):
- A and B differ strongly (`Mix.min_change`) over most of the picture (`Coverage`; a title
  fading in over a shot changes one region only);
- M is close to their average (`Mix.linear`), or fairly close while the detail of M dips
  below that of both A and B (`Mix.linear_with_dip`, `Mix.max_dip`), which is what mixing two
  unrelated pictures does and motion does not;
- A and B show different pictures (compare.py), not one picture brighter or dimmer;
- neither A nor B is blank: half a fade is a mix too, and fades are the fade finder's.
The boundary is the centre of the strongest match, its span i-k .. i+k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection.compare import Coverage, PictureChange, mean_abs_diff
from sceneline.transforms.media.detection.flash import FlashFilter
from sceneline.transforms.media.detection.window import FrameWindow
from sceneline.transforms.media.detection.base import DEFAULT_BATCH_FRAMES
from sceneline.transforms.media.detection.windowed import DEFAULT_MIN_SCENE_S, Candidate, WindowedDetector

# The score of a fade whose old shot is too far back to compare (a long blank run).
LONG_BLANK_SCORE = 12.0


# The lengths of dissolve looked for, in seconds (one scale each).
DISSOLVE_SCALES_S = (0.12, 0.2, 0.28, 0.4, 0.56)


@dataclass(frozen=True)
class Blank:
    """A blank frame is flat (grey standard deviation below `max_std`) and dark or bright."""

    max_std: float = 8.0
    dark_below: float = 40.0
    bright_above: float = 215.0

    def flags(self, window: FrameWindow, lo: int, hi: int) -> np.ndarray:
        std, mean = window.series("std", lo, hi), window.series("mean", lo, hi)
        return (std < self.max_std) & ((mean < self.dark_below) | (mean > self.bright_above))


class FadeFinder:
    def __init__(
        self,
        fps: float,
        *,
        blank: Blank = Blank(),
        max_fade_s: float = 1.0,
        max_blank_s: float = 2.0,
        flash_s: float = 0.25,
        change: PictureChange = PictureChange(),
    ):
        self.blank = blank
        self.fade_frames = max(2, int(round(max_fade_s * fps)))
        # Longer blank runs separate shots whatever is on either side (and fall outside the look-back).
        self.long_blank = max(2, int(round(max_blank_s * fps)))
        self.flash = FlashFilter(max(2, int(round(flash_s * fps))))
        self.change = change
        # A run ending at q is decided at q + 1 + fade_frames, when its fade-in is fully seen.
        self.lookback = max(2 * self.fade_frames + self.long_blank + 2, self.long_blank + self.flash.lookback)
        self.lookahead = 0
        self.delay = self.fade_frames + self.long_blank + 2
        self.longest = 2 * self.fade_frames + self.long_blank + 2
        self.kind = TransitionKind.FADE
        self.merge_radius = 0

    def find(self, window: FrameWindow, lo: int, hi: int, final: bool, stream_start: bool) -> list[Candidate]:
        # Runs that end at q with q + 1 + fade_frames in [lo, hi); at the end of the stream, all left.
        first_end = max(window.start, lo - 1 - self.fade_frames)
        last_end = window.end - 2 if final else min(window.end - 2, hi - 2 - self.fade_frames)
        if last_end < first_end:
            return []
        base = max(window.start, first_end - self.long_blank - 1)
        blank = self.blank.flags(window, base, last_end + 2)
        found = []
        for q in range(first_end, last_end + 1):
            if blank[q - base] and not blank[q + 1 - base]:
                c = self._judge_run(window, blank, base, q, stream_start)
                if c is not None:
                    found.append(c)
        return found

    def _judge_run(self, window: FrameWindow, blank: np.ndarray, base: int, q: int,
                   stream_start: bool) -> Candidate | None:
        p = q
        while p - 1 >= base and blank[p - 1 - base] and q - p < self.long_blank:
            p -= 1
        at_video_start = stream_start and p == 0
        if at_video_start:
            return None  # a black leader; a hard cut out of it is the cut detector's
        std = window.series("std", p, q + 1)
        deepest = p + int(np.flatnonzero(std <= std.min() + 0.5)[-1])
        level = float(window.series("mean", p, q + 1).mean())
        b = self._walk(window, q, +1, level)
        if q - p >= self.long_blank or p == window.start:
            return Candidate(deepest + 1, TransitionKind.FADE, p, b, LONG_BLANK_SCORE, blank_start=p)
        flash_change = mean_abs_diff(window.frame(p), window.frame(p - 1))
        if q - p < self.flash.max_frames and self.flash.interrupted(window, p, flash_change):
            return None  # a flash: the picture is back right after
        a = self._walk(window, p, -1, level)
        before, after = window.frame(a - 1), window.frame(min(b + 1, window.end - 1))
        if not self.change.differ(before, after):
            return None  # the same picture on both sides: a dip inside one shot
        return Candidate(deepest + 1, TransitionKind.FADE, a, b, mean_abs_diff(before, after), blank_start=p)

    def _walk(self, window: FrameWindow, edge: int, step: int, level: float) -> int:
        """From a blank run's edge (stepping away from it), the far end of the fade beside it: the
        frames that get steadily more detailed and further from the blank level, at most
        fade_frames of them."""
        at = edge
        while len(range(edge, at, step)) < self.fade_frames:
            nxt = at + step
            if not (window.start < nxt < window.end - 1):
                break
            if not (window.value("std", nxt) > window.value("std", at)
                    and abs(window.value("mean", nxt) - level) >= abs(window.value("mean", at) - level)):
                break
            at = nxt
        return at


@dataclass(frozen=True)
class Mix:
    """Whether middle frames M are mixes of the frames A and B either side (module docstring);
    frames are the coarse grids with brightness removed, with each frame's grey detail (std)."""

    min_change: float = 20.0
    linear: float = 0.12
    linear_with_dip: float = 0.30
    max_dip: float = 0.75

    def test(self, a: np.ndarray, m: np.ndarray, b: np.ndarray, detail_a: np.ndarray, detail_m: np.ndarray,
             detail_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For N triples: which are mixes, and how strongly (A-B change less M's residual)."""
        n = len(a)
        change = np.abs(a - b).reshape(n, -1).mean(axis=1)
        residual = np.abs(m - (a + b) / 2).reshape(n, -1).mean(axis=1)
        dip = detail_m / np.maximum(np.minimum(detail_a, detail_b), 1e-3)
        mixed = (residual <= self.linear * change) | ((residual <= self.linear_with_dip * change) & (dip <= self.max_dip))
        return mixed & (change >= self.min_change), change - residual


class DissolveFinder:
    def __init__(
        self,
        fps: float,
        *,
        scales_s: tuple[float, ...] = DISSOLVE_SCALES_S,
        mix: Mix = Mix(),
        coverage: Coverage = Coverage(min_share=0.4),
        blank: Blank = Blank(),
        change: PictureChange = PictureChange(),
    ):
        self.scales = sorted({max(2, int(round(s * fps))) for s in scales_s})
        self.mix = mix
        self.coverage = coverage
        self.blank = blank
        self.change = change
        k = max(self.scales)
        self.lookback = k
        self.lookahead = k
        self.delay = 0
        self.longest = 2 * k
        self.kind = TransitionKind.DISSOLVE
        self.merge_radius = k  # one dissolve shows at many centres and scales

    def find(self, window: FrameWindow, lo: int, hi: int, final: bool, stream_start: bool) -> list[Candidate]:
        mixes: list[Candidate] = []
        for k in self.scales:
            first, last = max(lo, window.start + k), min(hi, window.end - k)
            if last <= first:
                continue
            shape = window.series("shape", first - k, last + k)
            std = window.series("std", first - k, last + k)
            n = last - first
            mixed, strength = self.mix.test(shape[:n], shape[k:k + n], shape[2 * k:2 * k + n],
                                             std[:n], std[k:k + n], std[2 * k:2 * k + n])
            blank = self.blank.flags(window, first - k, last + k)
            mixed &= ~blank[:n] & ~blank[2 * k:2 * k + n]
            mixes += [Candidate(first + int(o), TransitionKind.DISSOLVE, first + int(o) - k, first + int(o) + k,
                                float(strength[o])) for o in np.flatnonzero(mixed)]
        # One dissolve is a mix at many centres and scales, and only the strongest candidate within
        # `merge_radius` survives the merge (windowed.py): so the strongest are checked first, and a
        # mix that a confirmed candidate already beats is dropped unchecked (it could not survive),
        # which spares most of the picture comparisons.
        found: list[Candidate] = []
        for c in sorted(mixes, key=lambda c: (-c.score, c.position)):
            if any(abs(f.position - c.position) <= self.merge_radius and f.score > c.score for f in found):
                continue
            if not self.coverage.covers(window.value("cells", c.start), window.value("cells", c.end)):
                continue
            if not self.change.differ(window.frame(c.start), window.frame(c.end)):
                continue  # the same picture, brighter or dimmer: a dip or a lighting change
            found.append(c)
        return sorted(found, key=lambda c: (c.position, c.end - c.start))


class GradualDetector(WindowedDetector):
    """Gradual transitions: fades through a blank frame and dissolves.

    Args:
        fps: frame rate of the video (times and lengths below are in seconds).
        max_fade_s: longest fade out or in that is found as one.
        max_blank_s: longest blank between a fade out and a fade in; longer blanks are shots of their own.
        scales_s: the lengths of dissolve looked for.
        min_scene_s: shortest scene; a boundary closer than this to the previous one is dropped.
        batch_frames: frames scored per batch.
    """

    name = "gradual"
    input_size = (64, 36)
    input_format = "rgb24"

    def __init__(self, fps: float = 25.0, *, max_fade_s: float = 1.0, max_blank_s: float = 2.0,
                 scales_s: tuple[float, ...] = DISSOLVE_SCALES_S, min_scene_s: float = DEFAULT_MIN_SCENE_S,
                 batch_frames: int = DEFAULT_BATCH_FRAMES):
        self.fade_options = {"max_fade_s": max_fade_s, "max_blank_s": max_blank_s}
        self.dissolve_options = {"scales_s": tuple(scales_s)}
        super().__init__(fps, min_scene_s=min_scene_s, batch_frames=batch_frames)

    def _finders(self):
        return [FadeFinder(self.fps, **self.fade_options), DissolveFinder(self.fps, **self.dissolve_options)]
