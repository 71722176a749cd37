"""Per-stage timing as Beam metrics: visible in Dataflow's UI, and read back after local runs
(IndexRun.stage_seconds) to say where the time goes."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from apache_beam.metrics import Metrics

NAMESPACE = "sceneline"
# Model stages run under RunInference, which times its own batches: stage name -> the metrics
# namespace of its handler.
INFERENCE_NAMESPACES = {
    "embed": "sceneline_clip",
    "ocr": "sceneline_ocr",
    "caption": "sceneline_caption",
    "text_embedding": "sceneline_text_embedding",
    "transcribe": "sceneline_transcribe",
}


@contextlib.contextmanager
def timed(stage: str) -> Iterator[None]:
    """Record the wall time of the block in the `<stage>_ms` distribution."""
    started = time.perf_counter()
    try:
        yield
    finally:
        Metrics.distribution(NAMESPACE, f"{stage}_ms").update(int((time.perf_counter() - started) * 1000))


def count(name: str, n: int = 1) -> None:
    Metrics.counter(NAMESPACE, name).inc(n)


def stage_seconds(result) -> dict[str, float]:
    """Total seconds per stage from a finished pipeline's metrics."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[str, float] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for dist in query.get("distributions", []):
        name = dist.key.metric.name
        if name.endswith("_ms"):
            value = dist.committed or dist.attempted
            if value is not None:
                totals[name[:-3]] = totals.get(name[:-3], 0.0) + value.sum / 1000
    return totals


def model_stage_seconds(result) -> dict[str, float]:
    """Seconds in model calls per model stage that ran (RunInference's batch latencies)."""
    found = {stage: inference_seconds(result, ns) for stage, ns in INFERENCE_NAMESPACES.items()}
    return {stage: seconds for stage, seconds in found.items() if seconds > 0}


def inference_seconds(result, namespace: str) -> float:
    """Seconds RunInference spent in model calls (its own batch latency metric)."""
    from apache_beam.metrics.metric import MetricsFilter

    total = 0.0
    for dist in result.metrics().query(MetricsFilter().with_namespace(namespace)).get("distributions", []):
        if dist.key.metric.name.endswith("inference_batch_latency_micro_secs"):
            value = dist.committed or dist.attempted
            if value is not None:
                total += value.sum / 1e6
    return total


def counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE)).get("counters", []):
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return out
