"""Scene assembly: keyframes inside their shot, memory bounded by one shot."""

from __future__ import annotations

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection.base import Boundary
from sceneline.transforms.media.scenes import KeyframePolicy, SceneBuilder


def feed(builder: SceneBuilder, n_frames: int, fps: float, cuts: list[int]):
    scenes = []
    rgb = np.zeros((4, 4, 3), np.uint8)
    for i in range(n_frames):
        t = i / fps
        builder.saw_frame(i, t)
        if builder.wants_candidate(t):
            builder.add_candidate(i, t, rgb)
        if i in cuts:
            scenes.append(builder.add_boundary(Boundary(frame=i, time_s=t, kind=TransitionKind.CUT)))
        assert len(builder._candidates) <= builder.policy.max_candidates
    scenes.append(builder.finish(n_frames / fps))
    return scenes


def test_keyframes_lie_inside_their_shot_and_grow_with_length():
    scenes = feed(SceneBuilder(), n_frames=3000, fps=25, cuts=[50, 60, 2000])
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 49), (50, 59), (60, 1999), (2000, 2999)]
    for s in scenes:
        assert s.keyframes and all(s.start_frame <= k.frame <= s.end_frame for k in s.keyframes)
    assert len(scenes[2].keyframes) == 3  # 77 s long: up to three keyframes
    assert len(scenes[1].keyframes) == 1


def test_a_two_hour_shot_keeps_a_bounded_number_of_candidates():
    # feed() asserts the bound on every frame; 2 h at 25 fps.
    scenes = feed(SceneBuilder(KeyframePolicy(max_candidates=16)), n_frames=2 * 3600 * 25, fps=25, cuts=[])
    assert len(scenes) == 1 and scenes[0].end_s == 7200.0


def test_boundary_that_adds_nothing_is_ignored():
    builder = SceneBuilder()
    builder.saw_frame(0, 0.0)
    builder.add_candidate(0, 0.0, np.zeros((2, 2, 3), np.uint8))
    assert builder.add_boundary(Boundary(frame=0, time_s=0.0)) is None


def test_boundaries_that_arrive_late_still_get_keyframes_from_the_middle_of_their_shot():
    # Detectors look ahead, so a boundary reaches the builder seconds after its frame.
    fps, late, cuts = 25, 300, [100, 200, 1500]
    builder = SceneBuilder(settle_s=2 * late / fps)
    rgb = np.zeros((4, 4, 3), np.uint8)
    scenes = []
    for i in range(3000):
        t = i / fps
        builder.saw_frame(i, t)
        if builder.wants_candidate(t):
            builder.add_candidate(i, t, rgb)
        arrived = i - late
        if arrived in cuts:
            scenes.append(builder.add_boundary(Boundary(frame=arrived, time_s=arrived / fps, kind=TransitionKind.CUT)))
        # Bounded: the settling stretch (4 a second over 24 s) plus one shot's thinned candidates.
        assert len(builder._candidates) <= builder.policy.max_candidates + 4 * 24 + 1
    scenes.append(builder.finish(3000 / fps))
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 99), (100, 199), (200, 1499), (1500, 2999)]
    for s in scenes:
        middle = (s.start_frame + s.end_frame) / 2
        shot_frames = s.end_frame - s.start_frame + 1
        assert s.keyframes and all(s.start_frame <= k.frame <= s.end_frame for k in s.keyframes)
        if len(s.keyframes) == 1:
            assert abs(s.keyframes[0].frame - middle) <= 0.1 * shot_frames
