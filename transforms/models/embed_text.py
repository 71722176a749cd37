"""The `text` vector of a scene: a sentence embedding of its description, tags and visible text.

A scene with nothing to say (no caption, no text on screen) gets no `text` vector; text search
then finds it through its `visual` vector only.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sceneline.schemas import AnalyzedAsset, Scene
from sceneline.schemas.qdrant_layout import TEXT_VECTOR
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.enrich import ItemsHandler
from sceneline.transforms.models.text_model import TextEncoder, load_text_encoder


def scene_text(scene: Scene) -> str:
    """What the scene says, in words: description, tags, and the text on screen."""
    e = scene.enrichment
    parts = [e.get("description") or "", ", ".join(e.get("tags") or []), e.get("visible_text") or ""]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def scene_texts(analyzed: AnalyzedAsset) -> list[str]:
    """The texts to embed: one per scene that has any, then one per speech segment."""
    return [text for scene in analyzed.scenes if (text := scene_text(scene))] + [s.text for s in analyzed.speech]


class TextEmbeddingHandler(ItemsHandler):
    """RunInference handler: an asset's scene texts in, an (n, dim) array of unit vectors out."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["text_embedding"]

    def __init__(self, spec: str, *, device: str = "cpu", max_batch_texts: int = 64,
                 max_batch_duration_secs: int | None = None):
        super().__init__(max_batch_texts, max_batch_duration_secs)
        self.model_id = spec
        self._device = device
        self._chunk = max_batch_texts

    def load_model(self) -> TextEncoder:
        return load_text_encoder(self.model_id, self._device)

    def run_items(self, items: Sequence[str], model: TextEncoder) -> np.ndarray:
        return model.embed(items, batch_size=self._chunk)


def attach_text_vectors(analyzed: AnalyzedAsset, vectors: np.ndarray, spec: str) -> AnalyzedAsset:
    rows = iter(np.asarray(vectors))
    scenes = []
    for scene in analyzed.scenes:
        if scene_text(scene):
            scene = scene.model_copy(update={"vectors": {**scene.vectors, TEXT_VECTOR: next(rows).tolist()}})
        scenes.append(scene)
    speech = [segment.model_copy(update={"vector": next(rows).tolist()}) for segment in analyzed.speech]
    return analyzed.model_copy(update={"scenes": scenes, "speech": speech,
                                       "models": {**analyzed.models, TEXT_VECTOR: spec}})
