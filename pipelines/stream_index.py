"""The streaming index pipeline: keep the index in step with a bucket, from its notifications.

    deliveries (local runner: sceneline's pull source; Dataflow: Beam's ReadFromPubSub)
      -> parse the notification                      --not one--> rejected
      -> route: upload -> status=pending, admit (asset id from bucket, name, generation)
                  -> the index chain shared with batch (pipelines/index_assets.py)
                removal -> delete the generation's scenes, status=deleted
                duplicate, stale, overwrite or metadata event -> nothing to do
      failures (any stage) -> dead letter with the original message -> status=failed
      every outcome -> acknowledge (local runner) -> report

Every message reaches the acknowledgement through its recording steps, so it is acknowledged
only once its outcome is recorded; a crash before that means a redelivery, which the
deterministic ids make harmless. See transforms/io/pubsub_source.py for why the local runner
needs its own source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Iterator

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from sceneline.schemas.settings import SettingError
from sceneline.pipelines.batch_index import new_run_id, prepare_store
from sceneline.pipelines.options import (
    DASK_RUNNER,
    SceneLineOptions,
    analysis_config_from,
    embedding_handler_from,
    limits_from,
    resolve_runner,
    runner_of,
    store_config_from,
    understanding_config_from,
    workers_share_this_process,
)
from sceneline.pipelines.store_access import store_for_workers
from sceneline.pipelines.understanding import UnderstandingModels, preflight_understanding
from sceneline.schemas.events import SUBSCRIPTION_PATTERN, EventOutcome, PubsubDelivery
from sceneline.transforms.admit import FAILED_TAG, SKIPPED_TAG, AdmitInputs
from sceneline.transforms.bucket_events import (
    REJECTED_TAG,
    REMOVALS_TAG,
    SETTLED_TAG,
    ParseNotifications,
    RemoveDeletedObjects,
    RouteBucketEvents,
)
from sceneline.transforms.io.dead_letters import WriteDeadLetters
from sceneline.transforms.io.gcp_env import use_emulator_credentials
from sceneline.pipelines.index_assets import IndexAssets, IndexSettings
from sceneline.transforms.keyed import KeepKeys
from sceneline.transforms.models.model_spec import ClipSpec, preflight
from sceneline.transforms.io.pubsub_source import (
    AcknowledgeDeliveries,
    PullSettings,
    ReadDeliveries,
    check_subscription,
    close_inboxes,
)
from sceneline.transforms.sinks import RecordFailures, RecordStatus
from sceneline.transforms.store.scene_store import StoreConfig
from sceneline.transforms.store.advert import advertised_url

LOCAL_STREAM_RUNNER = "BundleBasedDirectRunner"
OUTCOME_LOGGER = "sceneline.stream.outcomes"
METRICS_NAMESPACE = "sceneline_stream"
BATCH_ONLY_RUNNERS = {"FnApiRunner", "DirectRunner", "SwitchingDirectRunner", DASK_RUNNER}


def resolve_stream_runner(name: str | None) -> str:
    """The runner for a stream: BundleBasedDirectRunner locally (FnApiRunner runs only bounded
    pipelines), or the one named (DataflowRunner, FlinkRunner ...)."""
    if not name:
        return LOCAL_STREAM_RUNNER
    if name.lower() in ("direct", "directrunner", "bundlebaseddirectrunner"):
        return LOCAL_STREAM_RUNNER
    resolved = resolve_runner(name)
    if resolved in BATCH_ONLY_RUNNERS:
        raise SettingError(f"{resolved} runs only bounded pipelines; a stream runs on {LOCAL_STREAM_RUNNER} "
                         "(the default) or on DataflowRunner / FlinkRunner")
    return resolved


def pull_settings_from(opts: PipelineOptions) -> PullSettings:
    o = opts.view_as(SceneLineOptions)
    if not 10 <= o.lease_extension_s <= 600:
        raise SettingError(f"--lease_extension_s must be between 10 and 600, not {o.lease_extension_s}")
    return PullSettings(max_leased=o.max_leased_messages, lease_extension_s=o.lease_extension_s)


def _outcome_of_record(keyed: tuple) -> tuple[PubsubDelivery, EventOutcome]:
    delivery, record = keyed
    return delivery, EventOutcome.of_record(record)


class ReportOutcomes(beam.DoFn):
    """Log each event's outcome (the `sceneline stream` command prints them) and count it in
    the runner's metrics (Dataflow shows them; the local runner does not keep counters updated
    in timer-driven pipelines, so the command counts the reports instead)."""

    def process(self, keyed: tuple[PubsubDelivery, EventOutcome]) -> Iterator[EventOutcome]:
        delivery, outcome = keyed
        beam.metrics.Metrics.counter(METRICS_NAMESPACE, outcome.kind.value).inc()
        report = {"message_id": delivery.message_id, **outcome.model_dump(mode="json")}
        logging.getLogger(OUTCOME_LOGGER).info(
            "%s %s%s", outcome.kind.value, outcome.uri or delivery.message_id,
            f": {outcome.detail}" if outcome.detail else "", extra={"outcome": report})
        yield outcome


def build_stream_pipeline(p: beam.Pipeline, opts: PipelineOptions, run_id: str, visual_spec: ClipSpec | None,
                          store: StoreConfig, *, local: bool,
                          understanding: UnderstandingModels | None = None) -> beam.PCollection:
    """Add the stream to `p`; returns the reported outcomes."""
    so = opts.view_as(SceneLineOptions)
    deliveries = p | "Read" >> ReadDeliveries(so.subscription, local=local, settings=pull_settings_from(opts))
    parsed = deliveries | "Parse" >> beam.ParDo(ParseNotifications()).with_outputs(REJECTED_TAG, main="events")
    routed = parsed.events | "Route" >> beam.ParDo(RouteBucketEvents(store, run_id)).with_outputs(
        REMOVALS_TAG, SETTLED_TAG, main="uploads")
    admit = AdmitInputs(identity="object", limits=limits_from(opts))
    admitted = routed.uploads | "Admit" >> beam.ParDo(KeepKeys(admit)).with_outputs(
        FAILED_TAG, SKIPPED_TAG, main="assets")
    # Locally a model batch is what one poll took (see transforms/io/pubsub_source.py for why
    # RunInference's stateful batching is left out there); elsewhere it waits at most this long.
    batch_wait_s = None if local else so.embed_batch_wait_s
    embedding = embedding_handler_from(opts, visual_spec, batch_wait_s=batch_wait_s) \
        if visual_spec else None
    understanding_stages = None
    if understanding is not None:
        config = dataclasses.replace(understanding_config_from(opts), max_batch_duration_secs=batch_wait_s)
        understanding_stages = (config, understanding)
    settings = IndexSettings(store=store, run_id=run_id, analysis=analysis_config_from(opts),
                             thumbnails=so.thumbnails, visual_spec=visual_spec, embedding=embedding,
                             understanding=understanding_stages, spread_over_workers=not local,
                             split_long_videos=False)
    indexed, index_failures = admitted.assets | "Index" >> IndexAssets(settings)
    removed = routed[REMOVALS_TAG] | "Remove" >> beam.ParDo(RemoveDeletedObjects(store, run_id)).with_outputs(
        FAILED_TAG, main="outcomes")

    failed = (
        (parsed[REJECTED_TAG], admitted[FAILED_TAG], index_failures, removed[FAILED_TAG])
        | "Failures" >> beam.Flatten()
        | "DeadLetters" >> beam.ParDo(WriteDeadLetters(so.dead_letter, so.subscription))
        | "RecordFailures" >> beam.ParDo(KeepKeys(RecordFailures(store, run_id)))
    )
    skipped = admitted[SKIPPED_TAG] | "RecordSkipped" >> beam.ParDo(KeepKeys(RecordStatus(store, run_id)))
    recorded = ((indexed, failed, skipped)
                | "Recorded" >> beam.Flatten()
                | "OutcomeOfRecord" >> beam.Map(_outcome_of_record))
    return ((recorded, removed.outcomes, routed[SETTLED_TAG])
            | "Outcomes" >> beam.Flatten()
            | "Acknowledge" >> beam.ParDo(AcknowledgeDeliveries())
            | "Report" >> beam.ParDo(ReportOutcomes()))


@dataclass
class StreamRun:
    run_id: str
    subscription: str
    runner: str
    state: str = "RUNNING"


@contextlib.contextmanager
def _served_to_other_processes(config: StoreConfig) -> Iterator[str | None]:
    """While the stream runs on a local folder, serve it, so `sceneline search/status` work
    from other terminals (a folder admits one process). Yields the URL, or None when there is
    nothing to serve (a server, memory) or another process already serves it (this one then
    goes through that process too)."""
    if config.url or config.path == ":memory:" or advertised_url(config.path):
        yield None
        return
    from sceneline.pipelines.store_service import serve_store

    with serve_store(config.path) as url:
        yield url


def _wait_until_stopped(result, stop: threading.Event | None) -> None:
    """Block until `stop` is set; raises what failed the pipeline if it ends first."""
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            result.wait_until_finish()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    waiter = threading.Thread(target=wait, name="sceneline-stream-wait", daemon=True)
    waiter.start()
    while waiter.is_alive():
        if stop is None:
            waiter.join(timeout=0.5)
        elif stop.wait(timeout=0.5):
            break
    if errors:
        raise errors[0]


def _cancel(result, wait_s: float = 1.0) -> None:
    """Cancel the local pipeline without waiting out its idle worker, which notices a cancel only
    after a 5 s poll of its task queue. Whatever it may still be doing is safe to abandon: the
    messages it holds are handed back right after, and their redelivery rewrites the same points."""
    canceller = threading.Thread(target=result.cancel, name="sceneline-stream-cancel", daemon=True)
    canceller.start()
    canceller.join(timeout=wait_s)


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None,
        stop: threading.Event | None = None, on_ready=None) -> StreamRun:
    """Index the bucket events of --subscription until `stop` is set (local runner), or submit
    the stream to a remote runner and return. `on_ready(url)` is called once the stream runs,
    with the URL other processes reach a served local folder at (or None)."""
    opts = PipelineOptions(argv)
    standard = opts.view_as(StandardOptions)
    standard.runner = resolve_stream_runner(standard.runner)
    standard.streaming = True
    so = opts.view_as(SceneLineOptions)
    if not so.subscription or not SUBSCRIPTION_PATTERN.match(so.subscription):
        raise SettingError(f"--subscription must be projects/PROJECT/subscriptions/NAME, not {so.subscription!r}")
    pull_settings_from(opts)  # checked before any work

    use_emulator_credentials()
    check_subscription(so.subscription)
    visual = preflight(so.visual_model, offline=so.offline)
    understanding = preflight_understanding(understanding_config_from(opts), offline=so.offline)
    store_config = store_config_from(opts)
    prepare_store(store_config, visual, understanding.text)
    run_id = "stream-" + new_run_id()
    local = workers_share_this_process(opts)
    summary = StreamRun(run_id=run_id, subscription=so.subscription, runner=runner_of(opts))

    with contextlib.ExitStack() as resources:
        workers_store = resources.enter_context(store_for_workers(store_config, opts))
        served_url = resources.enter_context(_served_to_other_processes(store_config)) if local else None
        p = test_pipeline or beam.Pipeline(options=opts)
        build_stream_pipeline(p, opts, run_id, visual[0] if visual else None, workers_store, local=local,
                              understanding=understanding)
        result = p.run()
        if not local:
            summary.state = str(result.state)
            return summary
        resources.callback(close_inboxes)  # after the pipeline stops: hand back what it held
        if on_ready is not None:
            on_ready(served_url)
        try:
            _wait_until_stopped(result, stop)
        finally:
            _cancel(result)
            summary.state = "STOPPED"
    return summary
