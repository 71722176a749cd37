"""Visible text: OCR on keyframes and images with RapidOCR (PP-OCRv4 on ONNX Runtime).

The weights ship inside the `rapidocr-onnxruntime` wheel, so OCR never needs a model hub. The
detector runs first on every keyframe; a frame where it finds no text ends there, which is most
frames of most videos. Keyframes are read at their own size (at most 640 px): the detector's
default would upscale them to 736 px on the short side, four times the work for caption-sized text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

from PIL import Image

from sceneline.schemas import AnalyzedAsset, MediaType
from sceneline.schemas.settings import UnderstandingSettings
from sceneline.schemas.understanding import TextRegion, join_visible_text
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.enrich import ItemsHandler
from sceneline.transforms.models.cache import process_model

OCR_MODEL = "rapidocr-onnxruntime:PP-OCRv4"
OCR_MODEL_KEY = "ocr"


@dataclass(frozen=True)
class OcrConfig:
    # below this, PP-OCR's reads of textures are mostly noise
    min_confidence: float = UnderstandingSettings.default("ocr_min_confidence")
    max_side: int = 960  # images larger than this are read scaled down
    batch_images: int = 16
    num_threads: int | None = None


class OcrEngine:
    def __init__(self, config: OcrConfig):
        from rapidocr_onnxruntime import RapidOCR

        threads = {"intra_op_num_threads": config.num_threads} if config.num_threads else {}
        self._engine = RapidOCR(det_limit_type="max", det_limit_side_len=config.max_side,
                                text_score=config.min_confidence, **threads)
        self._min_confidence = config.min_confidence

    def read(self, jpeg: bytes) -> list[TextRegion]:
        """Lines of text in reading order, boxes normalised to the image's size."""
        image = Image.open(io.BytesIO(jpeg)).convert("RGB")
        width, height = image.size
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
