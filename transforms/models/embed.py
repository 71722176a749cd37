"""Image embeddings in the pipeline: open_clip behind a Beam RunInference ModelHandler.

An example is the list of one asset's keyframes (JPEG bytes). Batches are weighed in images
(`element_size_fn`), so one forward pass packs the keyframes of several small assets, and a
long video's many keyframes are split into chunks of the batch size.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from sceneline.schemas import AnalyzedAsset, FailureStage
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.cache import load_in_background, process_model
from sceneline.transforms.models.clip_model import ClipModel, load_clip
from sceneline.transforms.models.enrich import EnrichAssets, image_count
from sceneline.transforms.models.model_spec import ClipSpec, parse_clip_spec

Images = Sequence[bytes]


def _load_image_model(spec: ClipSpec, device: str, num_threads: int | None) -> ClipModel:
    return load_clip(spec, device=device, num_threads=num_threads, image_only=True)


class ClipImageEmbeddingHandler(ModelHandler[Images, np.ndarray, ClipModel]):
    """RunInference handler: a list of images in, an (n, dim) array of unit vectors out."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["embed"]

    def __init__(
        self,
        spec: ClipSpec | str,
        *,
        device: str = "cpu",
        max_batch_images: int = 32,
        min_batch_images: int | None = None,  # default: batches fill up to max_batch_images
        max_batch_duration_secs: int | None = None,
        num_threads: int | None = None,
        large_model: bool = False,
    ):
        super().__init__(
            min_batch_size=max_batch_images if min_batch_images is None else min_batch_images,
            max_batch_size=max_batch_images,
            max_batch_duration_secs=max_batch_duration_secs,
            element_size_fn=image_count,
            large_model=large_model,
        )
        # The spec is parsed once, where the run starts (preflight); a string is parsed here.
        self._spec = spec if isinstance(spec, ClipSpec) else parse_clip_spec(spec)
        if self._spec is None:
            raise ValueError("the image embedding handler needs a model spec, not 'none'")
        self._spec_text = self._spec.raw
        self._device = device
        self._chunk = max_batch_images
        self._num_threads = num_threads

    def load_model(self) -> ClipModel:
        return process_model(_load_image_model, self._spec, self._device, self._num_threads)

    def load_in_background(self) -> None:
        """Start building the model now, for workers that run in this process (cache.py)."""
        load_in_background(_load_image_model, self._spec, self._device, self._num_threads)

    def run_inference(self, batch: Sequence[Images], model: ClipModel,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        flat = [image for example in batch for image in example]
        vectors = model.embed_images(flat, chunk=self._chunk) if flat else np.zeros((0, model.dim), np.float32)
        start = 0
        for example in batch:
            yield PredictionResult(example, vectors[start:start + len(example)], self._spec_text)
            start += len(example)

    def get_num_bytes(self, batch: Sequence[Images]) -> int:
        return sum(len(image) for example in batch for image in example)

    def get_metrics_namespace(self) -> str:
        return self.METRICS_NAMESPACE


def keyframe_images(analyzed: AnalyzedAsset) -> list[bytes]:
    return [kf.jpeg for scene in analyzed.scenes for kf in scene.keyframes]


def attach_visual_vectors(analyzed: AnalyzedAsset, vectors: np.ndarray, spec: str) -> AnalyzedAsset:
    """Scene vector = the normalised mean of its keyframes' vectors."""
    vectors = np.asarray(vectors)
    row = 0
    scenes = []
    for scene in analyzed.scenes:
        n = len(scene.keyframes)
        mean = vectors[row:row + n].mean(axis=0)
        row += n
        norm = float(np.linalg.norm(mean))
        scene_vectors = dict(scene.vectors)
        if n and norm > 0:
            scene_vectors[VISUAL_VECTOR] = (mean / norm).astype(np.float32).tolist()
        scenes.append(scene.model_copy(update={"vectors": scene_vectors}))
    return analyzed.model_copy(update={"scenes": scenes, "models": {**analyzed.models, VISUAL_VECTOR: spec}})


class EmbedKeyframes(EnrichAssets):
    """(key, AnalyzedAsset) -> (key, AnalyzedAsset) with a `visual` vector on every scene: the
    model stage mechanism (transforms/models/enrich.py) over an asset's keyframes."""

    def __init__(self, handler: ClipImageEmbeddingHandler, spec: str):
        super().__init__(handler, keyframe_images, functools.partial(attach_visual_vectors, spec=spec),
                         FailureStage.EMBED)
