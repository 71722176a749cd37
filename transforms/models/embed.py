"""Image embeddings in the pipeline: open_clip behind a Beam RunInference ModelHandler.

An example is the list of one asset's keyframes (JPEG bytes). Batches are weighed in images
(`element_size_fn`), so one forward pass packs the keyframes of several small assets, and a
long video's many keyframes are split into chunks of the batch size.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from sceneline.schemas import AnalyzedAsset, Failure, FailureStage
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.clip_model import ClipModel, load_clip
from sceneline.transforms.models.model_spec import parse_clip_spec

Images = Sequence[bytes]


def image_count(element: Any) -> int:
    """Batch weight of an element: its number of images (keyed elements are (key, images))."""
    if isinstance(element, tuple) and len(element) == 2 and isinstance(element[1], (list, tuple)):
        return max(1, len(element[1]))
    return max(1, len(element))


@functools.lru_cache(maxsize=2)
def _process_model(spec_text: str, device: str, num_threads: int | None) -> ClipModel:
    """One model per process. RunInference keeps its model in a weakly referenced cache that
    holds one object alive at a time, and the local streaming runner sets a DoFn up for every
    bundle (each setup acquires another cached object first), so without this strong reference
    every bundle would load the model again."""
    spec = parse_clip_spec(spec_text)
    if spec is None:
        raise ValueError("the image embedding handler needs a model spec, not 'none'")
    return load_clip(spec, device=device, num_threads=num_threads, image_only=True)


class ClipImageEmbeddingHandler(ModelHandler[Images, np.ndarray, ClipModel]):
    """RunInference handler: a list of images in, an (n, dim) array of unit vectors out."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["embed"]

    def __init__(
        self,
        spec: str,
        *,
        device: str = "cpu",
        max_batch_images: int = 32,
        min_batch_images: int = 1,
        max_batch_duration_secs: int | None = None,
        num_threads: int | None = None,
        large_model: bool = False,
    ):
        super().__init__(
            min_batch_size=min_batch_images,
            max_batch_size=max_batch_images,
            max_batch_duration_secs=max_batch_duration_secs,
            element_size_fn=image_count,
            large_model=large_model,
        )
        self._spec_text = spec
        self._device = device
        self._chunk = max_batch_images
        self._num_threads = num_threads

    def load_model(self) -> ClipModel:
        return _process_model(self._spec_text, self._device, self._num_threads)

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


def attach_visual_vectors(analyzed: AnalyzedAsset, prediction: PredictionResult, spec: str) -> AnalyzedAsset:
    """Scene vector = the normalised mean of its keyframes' vectors."""
    vectors = np.asarray(prediction.inference)
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


def _attach_keeping_key(result: tuple[tuple[Any, AnalyzedAsset], PredictionResult], spec: str) -> tuple:
    (key, analyzed), prediction = result
    return key, attach_visual_vectors(analyzed, prediction, spec)


def _failed_batch_to_failures(failed: tuple[Any, Any]) -> Iterable[tuple[Any, Failure]]:
    """RunInference's dead letter is (batch, (exception type, repr, traceback lines))."""
    batch, (exc_type, exc_repr, _traceback) = failed
    for (key, analyzed), _images in batch:
        yield key, Failure(asset_id=analyzed.asset.asset_id, uri=analyzed.asset.uri, stage=FailureStage.EMBED,
                           error_type=getattr(exc_type, "__name__", str(exc_type)), message=exc_repr[:2000],
                           retryable=False)


class EmbedKeyframes(beam.PTransform):
    """(key, AnalyzedAsset) -> (key, AnalyzedAsset) with a `visual` vector on every scene.

    Returns a tuple (embedded, failures), both keyed: a failed batch fails its assets, not the
    pipeline. The key rides along in RunInference's own key, so it needs no extra state.
    """

    def __init__(self, handler: ClipImageEmbeddingHandler, spec: str):
        super().__init__()
        self._handler = handler
        self._spec = spec

    def expand(self, keyed_assets):
        with_images = keyed_assets | "KeyframeImages" >> beam.Map(lambda kv: (kv, keyframe_images(kv[1])))
        results, errors = with_images | "ClipImageEmbeddings" >> RunInference(
            KeyedModelHandler(self._handler)).with_exception_handling()
        embedded = results | "AttachVectors" >> beam.Map(_attach_keeping_key, self._spec)
        failures = errors.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch_to_failures)
        return embedded, failures
