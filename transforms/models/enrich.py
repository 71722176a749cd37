"""The one model-stage mechanism: RunInference keyed by (key, AnalyzedAsset), then attach.

Every model stage (image embeddings, visible text, captions, text vectors, and those to come)
has the same shape: take some examples from an asset (its keyframes, its scenes' texts), run
them through a ModelHandler in batches that span assets, and fold the answers back into the
asset. A failed batch fails its assets with the stage named; a bad answer fails its asset;
neither stops the pipeline. Handlers load their model through `process_model`
(transforms/models/cache.py). Adding a stage: docs/architecture.md.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from sceneline.schemas import AnalyzedAsset, Failure, FailureStage
from sceneline.transforms.stages import FAILED_TAG, failure_from

ExamplesOf = Callable[[AnalyzedAsset], list]
Attach = Callable[[AnalyzedAsset, Any], AnalyzedAsset]


def image_count(element: Any) -> int:
    """Batch weight of an element: its number of items (keyed elements are (key, items))."""
    if isinstance(element, tuple) and len(element) == 2 and isinstance(element[1], (list, tuple)):
        return max(1, len(element[1]))
    return max(1, len(element))


class ItemsHandler(ModelHandler):
    """A handler whose examples are lists of items (keyframes, scenes, texts): batches are weighed
    in items, run as one flat list through `run_items`, and split back per example. Batching
    settings pass through to Beam's ModelHandler, as Beam's own handlers do.

    Every batch fills up to `max_items` from what has arrived (a bundle, or what came within
    `max_batch_duration_secs`), unless `min_items` says otherwise. Beam's default starts at one
    item and grows only when its timings show a fixed cost per batch; examples of several items
    each (an asset's eight scene texts) never gave it one, so the model got one asset per call
    for the whole run: 16 calls of 8 texts where 2 of 64 would do (benchmarks/model_stages.py)."""

    model_id = ""
    METRICS_NAMESPACE = ""  # INFERENCE_NAMESPACES[its stage], so run reports can say where time went

    def __init__(self, max_items: int, max_batch_duration_secs: int | None = None, *,
                 min_items: int | None = None, large_model: bool = False):
        super().__init__(min_batch_size=max_items if min_items is None else min_items, max_batch_size=max_items,
                         max_batch_duration_secs=max_batch_duration_secs, element_size_fn=image_count,
                         large_model=large_model)

    def run_items(self, items: Sequence[Any], model: Any) -> Sequence[Any]:
        raise NotImplementedError

    def get_metrics_namespace(self) -> str:
        return self.METRICS_NAMESPACE

    def run_inference(self, batch: Sequence[Sequence[Any]], model: Any,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        answers = self.run_items([item for example in batch for item in example], model)
        start = 0
        for example in batch:
            yield PredictionResult(example, answers[start:start + len(example)], self.model_id)
            start += len(example)


class _BatchError(Exception):
    """Stands for the exception RunInference caught on a batch (its dead letter keeps the type
    and repr, not the exception), so one failure conversion serves both paths."""

    def __init__(self, exc_type: Any, exc_repr: str):
        super().__init__(exc_repr)
        self.retryable = isinstance(exc_type, type) and (
            issubclass(exc_type, (TimeoutError, ConnectionError)) or bool(getattr(exc_type, "retryable", False)))
        self.type_name = getattr(exc_type, "__name__", str(exc_type))


def _failed_batch(failed: tuple[Any, Any], stage: FailureStage) -> Iterable[tuple[Any, Failure]]:
    """RunInference's dead letter is (batch, (exception type, repr, traceback lines))."""
    batch, (exc_type, exc_repr, _traceback) = failed
    error = _BatchError(exc_type, exc_repr)
    for (key, analyzed), _examples in batch:
        yield key, failure_from(error, analyzed.asset, stage).model_copy(update={"error_type": error.type_name})


class _AttachAnswers(beam.DoFn):
    def __init__(self, attach: Attach, stage: FailureStage):
        self._attach = attach
        self._stage = stage

    def process(self, result: tuple[tuple[Any, AnalyzedAsset], Any]) -> Iterator:
        (key, analyzed), prediction = result
        try:
            yield key, self._attach(analyzed, prediction.inference)
        except Exception as exc:  # one asset's bad answer is that asset's failure
            yield beam.pvalue.TaggedOutput(FAILED_TAG, (key, failure_from(exc, analyzed.asset, self._stage)))


class EnrichAssets(beam.PTransform):
    """(key, AnalyzedAsset) -> (key, AnalyzedAsset) through one model. Returns (enriched, failures),
    both keyed (the key rides in RunInference's own key: see pipelines/index_assets.py)."""

    def __init__(self, handler: ModelHandler, examples_of: ExamplesOf, attach: Attach, stage: FailureStage):
        super().__init__()
        self._handler = handler
        self._examples_of = examples_of
        self._attach = attach
        self._stage = stage

    def expand(self, assets):
        examples_of = self._examples_of
        keyed = assets | "KeyByAsset" >> beam.Map(lambda kv: (kv, examples_of(kv[1])))
        results, errors = keyed | "RunInference" >> RunInference(
            KeyedModelHandler(self._handler)).with_exception_handling()
        attached = results | "Attach" >> beam.ParDo(_AttachAnswers(self._attach, self._stage)).with_outputs(
            FAILED_TAG, main="assets")
        batch_failures = errors.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch, self._stage)
        failures = (batch_failures, attached[FAILED_TAG]) | "Failures" >> beam.Flatten()
        return attached.assets, failures
