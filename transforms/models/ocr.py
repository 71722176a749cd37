"""Visible text: OCR on keyframes and images with RapidOCR (PP-OCRv4 on ONNX Runtime).

The weights ship inside the `rapidocr-onnxruntime` wheel, so OCR never needs a model hub.

Most keyframes of most videos hold no text, and the text detector is most of OCR's cost, so the
detector first looks at the keyframe scaled down to `gate_side` (384 px on the long side, chosen by
measurement: benchmarks/reports/ocr_gate.md). A keyframe where it finds nothing ends there; the
others are read exactly as without the gate, at their own size (at most 640 px; the detector's
default would upscale them to 736 px on the short side, four times the work for caption-sized text).
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from sceneline.schemas import AnalyzedAsset, MediaType
from sceneline.schemas.settings import UnderstandingSettings
from sceneline.schemas.understanding import TextRegion, join_visible_text
from sceneline.transforms.media.keyframes import fit_within
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.enrich import ItemsHandler
from sceneline.transforms.models.cache import process_model

OCR_MODEL = "rapidocr-onnxruntime:PP-OCRv4"
OCR_MODEL_KEY = "ocr"


@dataclass(frozen=True)
class OcrConfig:
    # below this, PP-OCR's reads of textures are mostly noise
    min_confidence: float = UnderstandingSettings.default("ocr_min_confidence")
    gate_side: int = UnderstandingSettings.default("ocr_gate_side")  # 0: no gate
    batch_images: int = 16
    num_threads: int | None = None
    # ONNX Runtime's idle worker threads spin by default, which takes CPU from the stages running
    # beside OCR on a small worker (benchmarks/reports/ocr_gate.md); off unless measuring that
    spin_threads: bool = False


@contextmanager
def _session_options(spin_threads: bool) -> Iterator[None]:
    """RapidOCR builds its ONNX Runtime sessions itself and has no setting for thread spinning;
    wrap its session-options builder while the engine is built."""
    from rapidocr_onnxruntime.utils import OrtInferSession

    build = OrtInferSession.__dict__["_init_sess_opts"]

    def without_spinning(config):
        options = build.__func__(config)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return options

    if not spin_threads:
        OrtInferSession._init_sess_opts = staticmethod(without_spinning)
    try:
        yield
    finally:
        OrtInferSession._init_sess_opts = build


class OcrEngine:
    def __init__(self, config: OcrConfig):
        from rapidocr_onnxruntime import RapidOCR

        threads = {"intra_op_num_threads": config.num_threads} if config.num_threads else {}
        with _session_options(config.spin_threads):
            # "max": never upscale (RapidOCR then detects at the image's own size up to 960 px)
            self._engine = RapidOCR(det_limit_type="max", text_score=config.min_confidence, **threads)
        self._min_confidence = config.min_confidence
        self._gate_side = config.gate_side

    def may_hold_text(self, image: Image.Image) -> bool:
        """Whether the detector finds any text in the image scaled down to the gate's size."""
        width, height = image.size
        if not self._gate_side or max(width, height) <= self._gate_side:
            return True  # the full-size detection is as cheap: let it decide
        small = image.resize(fit_within(width, height, self._gate_side), Image.Resampling.BILINEAR)
        boxes, _elapsed = self._engine.text_det(np.asarray(small)[:, :, ::-1])  # its models take BGR
        return boxes is not None and len(boxes) > 0

    def read(self, jpeg: bytes) -> list[TextRegion]:
        """Lines of text in reading order, boxes normalised to the image's size."""
        image = Image.open(io.BytesIO(jpeg)).convert("RGB")
        width, height = image.size
        if not self.may_hold_text(image):
            return []
        found, _elapsed = self._engine(image)
        regions = []
        for points, text, confidence in found or []:
            text = " ".join(str(text).split())
            if not text or float(confidence) < self._min_confidence:
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            box = (_unit(min(xs) / width), _unit(min(ys) / height), _unit(max(xs) / width), _unit(max(ys) / height))
            regions.append(TextRegion(text=text, confidence=round(float(confidence), 4), box=box))
        return regions


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


class OcrHandler(ItemsHandler):
    """RunInference handler: an asset's keyframes in, the text regions of each out."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["ocr"]

    model_id = OCR_MODEL

    def __init__(self, config: OcrConfig, *, max_batch_duration_secs: int | None = None):
        super().__init__(config.batch_images, max_batch_duration_secs)
        self._config = config

    def load_model(self) -> OcrEngine:
        return process_model(OcrEngine, self._config)

    def run_items(self, items: Sequence[bytes], model: OcrEngine) -> list[list[TextRegion]]:
        return [model.read(jpeg) for jpeg in items]


def keyframe_images(analyzed: AnalyzedAsset) -> list[bytes]:
    return [kf.jpeg for scene in analyzed.scenes for kf in scene.keyframes]


def merge_regions(per_keyframe: Sequence[tuple[float | None, list[TextRegion]]]) -> list[TextRegion]:
    """A scene's text: each line once (its most confident read), in order of first sight."""
    merged: dict[str, TextRegion] = {}  # a replaced value keeps its key's first position
    for time_s, regions in per_keyframe:
        for region in regions:
            key = region.text.casefold()
            if key not in merged or region.confidence > merged[key].confidence:
                merged[key] = region.model_copy(update={"time_s": time_s})
    return list(merged.values())


def attach_visible_text(analyzed: AnalyzedAsset, per_image: Sequence[list[TextRegion]]) -> AnalyzedAsset:
    is_image = analyzed.asset.media_type is MediaType.IMAGE
    found = iter(per_image)
    scenes = []
    for scene in analyzed.scenes:
        per_keyframe = [(None if is_image else kf.time_s, next(found)) for kf in scene.keyframes]
        regions = merge_regions(per_keyframe)
        enrichment = scene.enrichment.but(visible_text=join_visible_text(regions),
                                          text_regions=[r.model_dump(mode="json") for r in regions])
        scenes.append(scene.model_copy(update={"enrichment": enrichment}))
    return analyzed.model_copy(update={"scenes": scenes, "models": {**analyzed.models, OCR_MODEL_KEY: OCR_MODEL}})
