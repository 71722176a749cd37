"""Analyse one asset: probe, decode once, detect shots, and take keyframes (video), or make the
single scene of an image. Every failure names the stage it happened in."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import apache_beam as beam
import av
import numpy as np
from PIL import Image, ImageOps

from sceneline.schemas import (
    AnalyzedAsset,
    Failure,
    FailureStage,
    Keyframe,
    MediaAsset,
    MediaError,
    MediaType,
    ProbeInfo,
    Scene,
)
from sceneline.transforms.decode import FrameDecoder
from sceneline.transforms.detection import DEFAULT_DETECTOR, create_detector
from sceneline.transforms.hwaccel import open_input
from sceneline.transforms.keyframes import KEYFRAME_MAX_SIDE, encode_jpeg, fit_within, keyframe_rgb
from sceneline.transforms.media_io import is_local, local_path, open_for_read
from sceneline.transforms.metrics import count, timed
from sceneline.transforms.probe import display_size, probe_container, reconcile_with_decode, video_stream
from sceneline.transforms.scenes import KeyframePolicy, SceneBuilder


class StageError(Exception):
    """An exception raised inside a named stage; the original is the cause."""

    def __init__(self, stage: FailureStage, cause: BaseException):
        super().__init__(str(cause))
        self.stage = stage
        self.cause = cause


@contextlib.contextmanager
def stage(name: FailureStage) -> Iterator[None]:
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(name, exc) from exc


@dataclass(frozen=True)
class AnalysisConfig:
    detector: str = DEFAULT_DETECTOR
    keyframe_policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    keyframe_max_side: int = KEYFRAME_MAX_SIDE
    decode_threads: int = 0
    max_frames: int | None = None
    hwaccel: str | None = None  # e.g. "cuda": decode on the GPU where there is one


@contextlib.contextmanager
def _open_video(uri: str, hwaccel: str | None = None) -> Iterator[av.container.InputContainer]:
    # Local files go to FFmpeg by path (its own I/O is fastest); others through FileSystems.
    if is_local(uri):
        with open_input(local_path(uri), hwaccel) as container:
            yield container
    else:
        with open_for_read(uri) as f, open_input(f, hwaccel) as container:
            yield container


# Below this share of the stated duration, a file counts as truncated. Not higher: real files
# often state the duration of an audio track that outlasts the video.
TRUNCATED_BELOW = 0.75


def check_not_truncated(claimed_s: float | None, decoded_s: float, *, limited: bool) -> None:
    if limited or not claimed_s or claimed_s < 1.0:
        return
    if decoded_s < TRUNCATED_BELOW * claimed_s:
        raise StageError(FailureStage.DECODE, MediaError(
            f"truncated or damaged: the container states {claimed_s:.2f} s but only {decoded_s:.2f} s "
            "of video decodes"))


def analyze_video(asset: MediaAsset, config: AnalysisConfig) -> AnalyzedAsset:
    with contextlib.ExitStack() as resources:
        with stage(FailureStage.PROBE):
            container = resources.enter_context(_open_video(asset.uri, config.hwaccel))
            probe = probe_container(container, asset.size_bytes)
            stream = video_stream(container)
            fps = probe.avg_fps or probe.real_fps or 25.0
            detector = create_detector(config.detector, fps)
        decoder = FrameDecoder(container, stream, small_size=detector.input_size,
                               small_format=detector.input_format, threads=config.decode_threads,
                               max_frames=config.max_frames)
        builder = SceneBuilder(config.keyframe_policy)
        scenes: list[Scene] = []
        display: tuple[int, int] | None = None
        with stage(FailureStage.DECODE):
            for df in decoder:
                if display is None:  # rotation is known once the first frame is out
                    display = display_size(probe.width, probe.height, probe.sample_aspect,
                                           decoder.stats.rotation)
                builder.saw_frame(df.index, df.time_s)
                if builder.wants_candidate(df.time_s):
                    rgb = keyframe_rgb(df.frame, *display, decoder.stats.rotation, config.keyframe_max_side)
                    builder.add_candidate(df.index, df.time_s, rgb)
                for boundary in detector.process(df.index, df.time_s, df.small):
                    if (scene := builder.add_boundary(boundary)) is not None:
                        scenes.append(scene)
        with stage(FailureStage.DETECT):
            for boundary in detector.flush():
                if (scene := builder.add_boundary(boundary)) is not None:
                    scenes.append(scene)
            if (last := builder.finish(decoder.stats.span_s)) is not None:
                scenes.append(last)
    stats = decoder.stats
    check_not_truncated(probe.claimed_duration_s, stats.span_s, limited=config.max_frames is not None
                        and stats.frames >= config.max_frames)
    probe = reconcile_with_decode(probe, decoded_frames=stats.frames, decoded_span_s=stats.span_s,
                                  decode_errors=stats.errors, rotation=stats.rotation)
    if stats.stopped_early:
        probe.warnings.append(stats.stopped_early)
    if stats.discontinuities:
        probe.warnings.append(f"timestamps jumped back {stats.discontinuities} time(s); the timeline "
                              "continues across each jump")
    if stats.timestamp_repairs:
        probe.warnings.append(f"{stats.timestamp_repairs} frames had missing or non-increasing "
                              "timestamps and were given estimated times")
    return AnalyzedAsset(asset=asset, probe=probe, scenes=scenes)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Cut-outs with transparency are shown on white, as a viewer would show them."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


_EXIF_ORIENTATION = 0x0112
_QUARTER_TURN_ORIENTATIONS = {5, 6, 7, 8}


def analyze_image(asset: MediaAsset, config: AnalysisConfig) -> AnalyzedAsset:
    with stage(FailureStage.DECODE), open_for_read(asset.uri) as f:
        img = Image.open(f)  # raises DecompressionBombError past Pillow's pixel limit
        width, height = img.size
        fmt = img.format
        mode = img.mode
        frames = getattr(img, "n_frames", 1)
        turned = img.getexif().get(_EXIF_ORIENTATION, 1) in _QUARTER_TURN_ORIENTATIONS
        if fmt == "JPEG":
            # Let libjpeg decode at a reduced scale: a 12288-pixel-tall JPEG costs little.
            img.draft("RGB", (config.keyframe_max_side * 2, config.keyframe_max_side * 2))
        img.load()
        rgb_img = _flatten_alpha(ImageOps.exif_transpose(img))
    with stage(FailureStage.KEYFRAMES):
        target = fit_within(rgb_img.size[0], rgb_img.size[1], config.keyframe_max_side)
        if rgb_img.size != target:
            rgb_img = rgb_img.resize(target, Image.Resampling.LANCZOS)
        rgb = np.asarray(rgb_img)
        keyframe = Keyframe(time_s=0.0, frame=0, jpeg=encode_jpeg(rgb), width=rgb.shape[1],
                            height=rgb.shape[0])
    shown_w, shown_h = (height, width) if turned else (width, height)
    probe = ProbeInfo(
        image_format=fmt, codec=(fmt or "").lower() or None, width=width, height=height,
        display_width=shown_w, display_height=shown_h, display_aspect=round(shown_w / shown_h, 4),
        rotation=90 if turned else 0, size_bytes=asset.size_bytes,
        animated_frames=frames if frames > 1 else None, pixel_format=mode,
    )
    scene = Scene(index=0, start_s=0.0, end_s=0.0, start_frame=0, end_frame=0, keyframes=[keyframe])
    return AnalyzedAsset(asset=asset, probe=probe, scenes=[scene])


def analyze_asset(asset: MediaAsset, config: AnalysisConfig) -> AnalyzedAsset:
    """Analyse an admitted asset; raises StageError naming the stage that failed."""
    if asset.media_type is MediaType.IMAGE:
        return analyze_image(asset, config)
    analyzed = analyze_video(asset, config)
    if not analyzed.scenes:
        raise StageError(FailureStage.DETECT, MediaError("no scene could be formed: no frame decoded"))
    return analyzed


class AnalyzeAssets(beam.DoFn):
    """MediaAsset -> AnalyzedAsset; a failure goes to the `failed` output with its stage."""

    FAILED_TAG = "failed"

    def __init__(self, config: AnalysisConfig):
        self._config = config

    def process(self, asset: MediaAsset) -> Iterator:
        try:
            with timed("analyze"):
                analyzed = analyze_asset(asset, self._config)
            count("frames_decoded", analyzed.probe.decoded_frames or 0)
            count("scenes", len(analyzed.scenes))
            yield analyzed
        except StageError as exc:
            yield beam.pvalue.TaggedOutput(self.FAILED_TAG, Failure.from_exception(
                exc.cause, uri=asset.uri, stage=exc.stage, asset_id=asset.asset_id))
        except Exception as exc:  # outside any named stage: still the asset's failure, not the run's
            yield beam.pvalue.TaggedOutput(self.FAILED_TAG, Failure.from_exception(
                exc, uri=asset.uri, stage=FailureStage.DECODE, asset_id=asset.asset_id))
