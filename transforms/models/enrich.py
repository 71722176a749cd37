"""One model stage over whole assets: RunInference keyed by (key, AnalyzedAsset), then attach.

Every understanding stage (visible text, captions, text vectors) has the same shape: take some
examples from an asset (its keyframes, its scenes' texts), run them through a ModelHandler in
batches that span assets, and fold the answers back into the asset. A failed batch fails its
assets with the stage named; it never stops the pipeline.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from sceneline.schemas import AnalyzedAsset, Failure, FailureStage
from sceneline.schemas.failures import is_retryable
from sceneline.transforms.models.embed import image_count

FAILED_TAG = "failed"

ExamplesOf = Callable[[AnalyzedAsset], list]
Attach = Callable[[AnalyzedAsset, Any], AnalyzedAsset]


class ItemsHandler(ModelHandler):
    """A handler whose examples are lists of items (keyframes, scenes, texts): batches are weighed
    in items, run as one flat list through `run_items`, and split back per example."""

    model_id = ""
    METRICS_NAMESPACE = ""  # INFERENCE_NAMESPACES[its stage], so run reports can say where time went

    def __init__(self, max_items: int, max_batch_duration_secs: int | None = None):
        super().__init__(min_batch_size=1, max_batch_size=max_items,
                         max_batch_duration_secs=max_batch_duration_secs, element_size_fn=image_count)

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


def _failed_batch(failed: tuple[Any, Any], stage: FailureStage) -> Iterable[tuple[Any, Failure]]:
    """RunInference's dead letter is (batch, (exception type, repr, traceback lines))."""
    batch, (exc_type, exc_repr, _traceback) = failed
    retryable = isinstance(exc_type, type) and (
        issubclass(exc_type, (TimeoutError, ConnectionError)) or bool(getattr(exc_type, "retryable", False)))
    for (key, analyzed), _examples in batch:
        yield key, Failure(asset_id=analyzed.asset.asset_id, uri=analyzed.asset.uri, stage=stage,
                           error_type=getattr(exc_type, "__name__", str(exc_type)), message=exc_repr[:2000],
                           retryable=retryable)


class _AttachAnswers(beam.DoFn):
    def __init__(self, attach: Attach, stage: FailureStage):
        self._attach = attach
        self._stage = stage

    def process(self, result: tuple[tuple[Any, AnalyzedAsset], Any]) -> Iterator:
        (key, analyzed), prediction = result
        try:
            yield key, self._attach(analyzed, prediction.inference)
        except Exception as exc:  # one asset's bad answer is that asset's failure
            yield beam.pvalue.TaggedOutput(FAILED_TAG, (key, Failure(
                asset_id=analyzed.asset.asset_id, uri=analyzed.asset.uri, stage=self._stage,
                error_type=type(exc).__name__, message=(str(exc) or repr(exc))[:2000],
                retryable=is_retryable(exc))))


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
