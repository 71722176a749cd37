"""Analyse one asset: probe, decode once, detect shots, and take keyframes (video, through
segments.py), or make the single scene of an image. Every failure names the stage it happened in.

`AnalyzeMedia` is the Beam step: long videos are split into segments that spread over workers
and are stitched back; everything else is analysed whole.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam
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
from sceneline.transforms.keyed import KeepKeys
from sceneline.transforms.media.keyframes import encode_jpeg, fit_within
from sceneline.transforms.media.limits import open_image_within
from sceneline.transforms.io.media_io import open_for_read
from sceneline.transforms.metrics import count, timed
from sceneline.transforms.media.config import DEFAULT_SEGMENT_S, AnalysisConfig  # noqa: F401 (re-exported)
from sceneline.transforms.media.segments import (
    AnalyzeSegment,
    PlanSegments,
    StitchSegments,
    analyze_video,
    check_not_truncated,
)
from sceneline.transforms.stages import FAILED_TAG, StageError, stage


__all__ = ["AnalysisConfig", "AnalyzeAssets", "AnalyzeMedia", "StageError", "analyze_asset", "analyze_video",
           "check_not_truncated", "stage"]


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
        img = open_image_within(f, config.limits)  # the header's size checked before decoding
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
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc.cause, uri=asset.uri, stage=exc.stage, asset_id=asset.asset_id))
        except Exception as exc:  # outside any named stage: still the asset's failure, not the run's
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc, uri=asset.uri, stage=FailureStage.DECODE, asset_id=asset.asset_id))


class AnalyzeMedia(beam.PTransform):
    """(key, MediaAsset) -> {"analyzed": (key, AnalyzedAsset), "failed": (key, Failure)}; one key
    per asset, kept from input to output.

    plan segments -> (long videos) reshuffle -> decode + detect per segment -> group by key ->
    stitch; images, short videos and videos that cannot be split go through AnalyzeAssets whole.
    With `split_long_videos=False` every asset goes whole: the grouping needs a runner that can
    close a group, which the local stream's source cannot tell it (see pipelines/index_assets.py).
    """

    def __init__(self, config: AnalysisConfig, *, split_long_videos: bool = True):
        super().__init__()
        self._config = config
        self._split = split_long_videos

    def expand(self, keyed_assets):
        if not self._split:
            whole = keyed_assets | "AnalyzeWhole" >> beam.ParDo(KeepKeys(AnalyzeAssets(self._config))).with_outputs(
                FAILED_TAG, main="analyzed")
            return {"analyzed": whole.analyzed, "failed": whole[FAILED_TAG]}
        planned = keyed_assets | "PlanSegments" >> beam.ParDo(KeepKeys(PlanSegments(self._config))).with_outputs(
            PlanSegments.WHOLE_TAG, main="segments")
        whole = planned[PlanSegments.WHOLE_TAG] | "AnalyzeWhole" >> beam.ParDo(
            KeepKeys(AnalyzeAssets(self._config))).with_outputs(FAILED_TAG, main="analyzed")
        stitched = (
            planned.segments
            | "SpreadSegments" >> beam.Reshuffle()
            | "AnalyzeSegments" >> beam.ParDo(KeepKeys(AnalyzeSegment(self._config)))
            | "GroupSegments" >> beam.GroupByKey()
            | "Stitch" >> beam.ParDo(KeepKeys(StitchSegments(self._config))).with_outputs(
                FAILED_TAG, main="analyzed")
        )
        return {
            "analyzed": (whole.analyzed, stitched.analyzed) | "AllAnalyzed" >> beam.Flatten(),
            "failed": (whole[FAILED_TAG], stitched[FAILED_TAG])
            | "AllAnalyzeFailures" >> beam.Flatten(),
        }
