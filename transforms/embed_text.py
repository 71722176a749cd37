"""The `text` vector of a scene: a sentence embedding of its description, tags and visible text.

A scene with nothing to say (no caption, no text on screen) gets no `text` vector; text search
then finds it through its `visual` vector only.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from sceneline.schemas import AnalyzedAsset, Scene
from sceneline.schemas.qdrant_layout import TEXT_VECTOR
from sceneline.transforms.embed import image_count
from sceneline.transforms.text_model import TextEncoder, load_text_encoder


def scene_text(scene: Scene) -> str:
    """What the scene says, in words: description, tags, and the text on screen."""
    e = scene.enrichment
    parts = [e.get("description") or "", ", ".join(e.get("tags") or []), e.get("visible_text") or ""]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def scene_texts(analyzed: AnalyzedAsset) -> list[str]:
    """The texts to embed, one per scene that has any."""
    return [text for scene in analyzed.scenes if (text := scene_text(scene))]


class TextEmbeddingHandler(ModelHandler[Sequence[str], np.ndarray, TextEncoder]):
    """RunInference handler: an asset's scene texts in, an (n, dim) array of unit vectors out."""

    def __init__(self, spec: str, *, device: str = "cpu", max_batch_texts: int = 64,
                 max_batch_duration_secs: int | None = None):
        super().__init__(min_batch_size=1, max_batch_size=max_batch_texts,
                         max_batch_duration_secs=max_batch_duration_secs, element_size_fn=image_count)
        self._spec = spec
        self._device = device
        self._chunk = max_batch_texts

    def load_model(self) -> TextEncoder:
        return load_text_encoder(self._spec, self._device)

    def run_inference(self, batch: Sequence[Sequence[str]], model: TextEncoder,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        flat = [text for example in batch for text in example]
        vectors = model.embed(flat, batch_size=self._chunk)
        start = 0
        for example in batch:
            yield PredictionResult(example, vectors[start:start + len(example)], self._spec)
            start += len(example)

    def get_metrics_namespace(self) -> str:
        return "sceneline_text_embedding"


def attach_text_vectors(analyzed: AnalyzedAsset, vectors: np.ndarray, spec: str) -> AnalyzedAsset:
    rows = iter(np.asarray(vectors))
    scenes = []
    for scene in analyzed.scenes:
        if scene_text(scene):
            scene = scene.model_copy(update={"vectors": {**scene.vectors, TEXT_VECTOR: next(rows).tolist()}})
        scenes.append(scene)
    return analyzed.model_copy(update={"scenes": scenes, "models": {**analyzed.models, TEXT_VECTOR: spec}})
