"""Probe, decode and scene analysis on real media: true times, display geometry, bad input."""

from __future__ import annotations

import av
import numpy as np
import pytest

from clips import write_audio_only, write_shots, write_video
from conftest import media
from sceneline.schemas import FailureStage, InputFile, MediaError, MediaType
from sceneline.transforms.admit import admit_input
from sceneline.transforms.media.analyze import AnalysisConfig, StageError, analyze_asset
from sceneline.transforms.media.keyframes import decode_jpeg


def analyze(path):
    return analyze_asset(admit_input(InputFile(uri=str(path))), AnalysisConfig())


def pts_times(path) -> list[float]:
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


def assert_scenes_tile_the_video(result):
    scenes = result.scenes
    assert scenes[0].start_s == 0 and scenes[0].start_frame == 0
    for a, b in zip(scenes, scenes[1:]):
        assert a.end_s == b.start_s and a.end_frame + 1 == b.start_frame
    assert scenes[-1].end_frame + 1 == result.probe.decoded_frames
    assert scenes[-1].end_s == pytest.approx(result.probe.duration_s, abs=1e-3)
    for s in scenes:
        assert s.keyframes, f"scene {s.index} has no keyframe"
        for k in s.keyframes:
            assert s.start_frame <= k.frame <= s.end_frame and s.start_s <= k.time_s <= s.end_s


def test_variable_frame_rate_times_come_from_pts():
    path = media("videos/psd_goldeneye-vfr-drop3.mp4")
    result = analyze(path)
    times = pts_times(path)
    gaps = np.diff(times)
    assert gaps.max() > 1.5 * gaps.min()  # the file really is VFR (frames dropped)
    assert_scenes_tile_the_video(result)
    for scene in result.scenes:
        # Each scene starts at its first frame's presentation time, not frame_index / fps.
        assert scene.start_s == pytest.approx(times[scene.start_frame] - times[0], abs=1e-6)
        for k in scene.keyframes:
            assert k.time_s == pytest.approx(times[k.frame] - times[0], abs=1e-6)


def test_rotation_metadata_gives_portrait_keyframes():
    result = analyze(media("videos/psd_goldeneye_issue-134-rotate.mp4"))
    assert result.probe.rotation == -90
    assert (result.probe.width, result.probe.height) == (1280, 544)
    assert (result.probe.display_width, result.probe.display_height) == (544, 1280)
    keyframe = decode_jpeg(result.scenes[0].keyframes[0].jpeg)
    assert keyframe.height > keyframe.width


def test_non_square_pixels_are_stretched_for_display():
    result = analyze(media("videos/psd_issue-195-aspect-ratio.mp4"))
    assert (result.probe.width, result.probe.height) == (704, 576)
    assert result.probe.display_aspect == pytest.approx(16 / 9, rel=0.01)
    k = result.scenes[0].keyframes[0]
    assert k.width / k.height == pytest.approx(16 / 9, rel=0.02)


def test_container_claims_are_checked_against_decoding():
    tree = analyze(media("videos/opencv_tree.avi"))  # header implies ~444 frames, 68 decode
    assert tree.probe.decoded_frames == 68
    assert any("68 decoded" in w for w in tree.probe.warnings)
    no_duration = analyze(media("videos/moviepy_no_duration.webm"))
    assert no_duration.probe.claimed_duration_s is None
    assert no_duration.probe.duration_s == pytest.approx(4.94, abs=0.1)
    assert_scenes_tile_the_video(no_duration)


def test_packet_order_timestamps_in_avi_are_put_in_display_order():
    # MPEG-4 ASP with B-frames in AVI: PyAV hands out packet-order PTS (1, 2, 3, 5, 4, ...).
    result = analyze(media("videos/opencv_Megamind.avi"))
    assert result.probe.decoded_frames == 270
    assert result.probe.duration_s == pytest.approx(270 * 125 / 2997, rel=0.01)
    assert_scenes_tile_the_video(result)


def test_probe_reports_stream_facts():
    probe = analyze(media("videos/moviepy_big_buck_bunny_0_30.webm")).probe
    assert (probe.container, probe.codec, probe.width, probe.height) == ("matroska,webm", "vp8", 1280, 720)
    assert probe.avg_fps == pytest.approx(24) and probe.real_fps == pytest.approx(24)
    assert probe.audio_streams and probe.audio_streams[0].codec == "vorbis"
    assert probe.duration_s == pytest.approx(30.0, abs=0.1) and probe.size_bytes > 0


def test_images_are_one_scene_with_true_display_size():
    tall = analyze(media("images/misc/imageio_meadow_cube.jpg"))  # 2048x12288: decoded at reduced scale
    assert len(tall.scenes) == 1 and tall.asset.media_type is MediaType.IMAGE
    assert (tall.probe.display_width, tall.probe.display_height) == (2048, 12288)
    k = tall.scenes[0].keyframes[0]
    assert max(k.width, k.height) <= 640 and k.height > 5 * k.width
    gif = analyze(media("images/misc/moviepy_pigs_in_a_polka.gif"))
    assert gif.probe.animated_frames == 30 and len(gif.scenes) == 1


def test_hard_cuts_in_a_clip_made_from_real_footage(tmp_path):
    path = tmp_path / "cuts.mp4"
    starts = write_shots(path, [
        (media("videos/psd_testvideo.mp4"), 200, 40),
        (media("videos/moviepy_chaplin.mp4"), 50, 30),
        (media("videos/mmaction2_test.mp4"), 100, 35),  # single shots, per the MANIFEST
    ])
    result = analyze(path)
    assert [s.start_frame for s in result.scenes] == starts
    assert_scenes_tile_the_video(result)


def bad_input(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_input_fails_with_a_reason(tmp_path):
    real = media("videos/moviepy_big_buck_bunny_0_30.webm").read_bytes()
    cases = {
        bad_input(tmp_path, "empty.mp4", b""): "empty",
        bad_input(tmp_path, "random.mp4", np.random.default_rng(0).bytes(20000)): "unknown data",
        bad_input(tmp_path, "doc.mp4", b"%PDF-1.4\n" + b"x" * 1000): "pdf",
        bad_input(tmp_path, "half.webm", real[: len(real) // 2]): "truncated",
        bad_input(tmp_path, "header_only.mp4", media("videos/psd_testvideo.mp4").read_bytes()[:5000]): "",
        write_audio_only(tmp_path / "audio_only.mp4"): "no video stream",
    }
    for path, reason in cases.items():
        with pytest.raises((MediaError, StageError)) as info:
            analyze(path)
        assert reason in str(info.value), (path.name, str(info.value))


def test_stage_is_named_on_failure(tmp_path):
    path = write_audio_only(tmp_path / "voice.m4a")
    with pytest.raises(StageError) as info:
        analyze(path)
    assert info.value.stage is FailureStage.PROBE


def test_single_frame_video(tmp_path):
    frame = np.full((64, 96, 3), 128, np.uint8)
    result = analyze(write_video(tmp_path / "one.mp4", [frame]))
    assert len(result.scenes) == 1 and result.probe.decoded_frames == 1
