"""The batch index pipeline: files -> admitted assets -> scenes -> embeddings -> Qdrant.

    list inputs -> admit (hash, sniff) -> dedupe by content -> pending -> reshuffle
      -> processing -> analyse (probe, decode, detect, keyframes; long videos in segments over
         workers, stitched) -> embed (RunInference)
      -> thumbnails -> write scenes + status=indexed
    failures from every stage -> status=failed + dead letters; every input -> one outcome record
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from sceneline.schemas.settings import SettingError
from sceneline.schemas import AssetRecord, AssetStatus, InputFile, MediaAsset
from sceneline.transforms.admit import FAILED_TAG, SKIPPED_TAG, AdmitInputs
from sceneline.transforms.io.gcp_env import use_emulator_credentials
from sceneline.transforms.io.media_io import join
from sceneline.transforms.metrics import counters, model_stage_seconds, stage_seconds
from sceneline.transforms.models.model_spec import ClipSpec, preflight
from sceneline.transforms.resume import ALREADY_INDEXED_TAG, SkipIndexed
from sceneline.transforms.sinks import RecordFailures
from sceneline.transforms.io.sources import Listing, list_inputs
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig
from sceneline.pipelines.options import (
    SceneLineOptions,
    analysis_config_from,
    embedding_handler_from,
    limits_from,
    must_wait,
    resolve_runner,
    store_config_from,
    understanding_config_from,
    workers_share_this_process,
)
from sceneline.pipelines.store_access import store_for_workers
from sceneline.pipelines.index_assets import IndexAssets, IndexSettings
from sceneline.pipelines.understanding import UnderstandingModels, preflight_understanding
from sceneline.schemas.qdrant_layout import TEXT_VECTOR, VISUAL_VECTOR

log = logging.getLogger(__name__)

DUPLICATES_TAG = "duplicates"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


class KeepOnePerContent(beam.DoFn):
    """The same content under several names is indexed once; the other names are skipped."""

    def process(self, keyed: tuple[str, list[MediaAsset]]) -> Iterator:
        _asset_id, assets = keyed
        ordered = sorted(assets, key=lambda a: a.uri)
        yield ordered[0]
        for duplicate in ordered[1:]:
            yield beam.pvalue.TaggedOutput(DUPLICATES_TAG, AssetRecord(
                asset_id=None, uri=duplicate.uri, filename=duplicate.filename,
                media_type=duplicate.media_type, status=AssetStatus.SKIPPED, error_type="Duplicate",
                error_message=f"same content as {ordered[0].uri} (asset {ordered[0].asset_id})",
                size_bytes=duplicate.size_bytes))


def _to_json_line(record) -> str:
    return record.model_dump_json()


def build_index_pipeline(
    p: beam.Pipeline,
    files: list[InputFile],
    opts: PipelineOptions,
    run_id: str,
    visual_spec: ClipSpec | None,
    store: StoreConfig,
    understanding: UnderstandingModels | None = None,
) -> None:
    """Add the index pipeline for `files` to `p`, writing to `store`."""
    so = opts.view_as(SceneLineOptions)

    admitted = (
        p
        | "Inputs" >> beam.Create(files)
        | "Admit" >> beam.ParDo(AdmitInputs(limits=limits_from(opts))).with_outputs(
            FAILED_TAG, SKIPPED_TAG, main="assets")
    )
    unique = (
        admitted.assets
        | "KeyByContent" >> beam.Map(lambda a: (a.asset_id, a))
        | "GroupByContent" >> beam.GroupByKey()
        | "KeepOnePerContent" >> beam.ParDo(KeepOnePerContent()).with_outputs(DUPLICATES_TAG, main="assets")
    )
    to_index, resumed = unique.assets, []
    if so.resume:
        kept = unique.assets | "SkipIndexed" >> beam.ParDo(SkipIndexed(store, run_id)).with_outputs(
            ALREADY_INDEXED_TAG, main="assets")
        to_index, resumed = kept.assets, [kept[ALREADY_INDEXED_TAG]]
    settings = IndexSettings(
        store=store, run_id=run_id, analysis=analysis_config_from(opts), thumbnails=so.thumbnails,
        visual_spec=visual_spec, embedding=embedding_handler_from(opts, visual_spec) if visual_spec else None,
        understanding=(understanding_config_from(opts), understanding) if understanding is not None else None)
    records, index_failures = (
        to_index
        | "KeyByAsset" >> beam.Map(lambda a: (a.asset_id, a))
        | "Index" >> IndexAssets(settings)
    )
    written = records | "Records" >> beam.Values()
    failures = [admitted[FAILED_TAG], index_failures | "Failures" >> beam.Values()]

    all_failures = failures | "AllFailures" >> beam.Flatten()
    failed_records = all_failures | "RecordFailures" >> beam.ParDo(RecordFailures(store, run_id))
    _ = (all_failures
         | "DeadLetterJson" >> beam.Map(_to_json_line)
         | "DeadLetters" >> beam.io.WriteToText(join(so.dead_letter, run_id, "failures"),
                                                file_name_suffix=".jsonl", skip_if_empty=True))
    _ = ((written, failed_records, admitted[SKIPPED_TAG], unique[DUPLICATES_TAG], *resumed)
         | "AllOutcomes" >> beam.Flatten()
         | "OutcomeJson" >> beam.Map(_to_json_line)
         | "Outcomes" >> beam.io.WriteToText(join(so.run_dir, run_id, "outcomes"),
                                             file_name_suffix=".jsonl"))


@dataclass
class IndexRun:
    run_id: str
    listing: Listing
    outcomes: list[AssetRecord] = field(default_factory=list)
    elapsed_s: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the time went
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, status: AssetStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def scene_count(self) -> int:
        return sum(o.scene_count or 0 for o in self.outcomes if o.status == AssetStatus.INDEXED)


def read_outcomes(run_dir: str, run_id: str) -> list[AssetRecord]:
    records = []
    for match in FileSystems.match([join(run_dir, run_id, "outcomes*.jsonl")]):
        for meta in match.metadata_list:
            with FileSystems.open(meta.path) as f:
                records += [AssetRecord.model_validate(json.loads(line)) for line in f.read().splitlines() if line]
    return sorted(records, key=lambda r: r.uri)


def prepare_store(store_config: StoreConfig, visual: tuple | None, text: tuple | None = None) -> SceneStore:
    """Create the collections (or check they fit this run's models) before any work."""
    store = SceneStore(store_config)
    dims, used = {}, {}
    if visual is not None:
        spec, dim = visual
        dims[VISUAL_VECTOR], used[VISUAL_VECTOR] = dim, spec.raw
    if text is not None:
        spec, dim = text
        dims[TEXT_VECTOR], used[TEXT_VECTOR] = dim, spec.raw
    store.ensure_collections(dims, used)
    return store


def run(
    argv: list[str] | None = None,
    test_pipeline: beam.Pipeline | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> IndexRun:
    """Index the inputs named in argv (--input ...). Fails before any work when an input
    names nothing or a model cannot be had."""
    opts = PipelineOptions(argv)
    standard = opts.view_as(StandardOptions)
    standard.runner = resolve_runner(standard.runner)
    so = opts.view_as(SceneLineOptions)
    if not so.input:
        raise SettingError("nothing to index: give at least one file, folder, glob or gs:// prefix")

    use_emulator_credentials()
    listing = list_inputs(so.input)
    visual = preflight(so.visual_model, offline=so.offline)
    if visual is not None and workers_share_this_process(opts):
        # The model builds (seconds, one core) while the store opens and the pipeline starts.
        embedding_handler_from(opts, visual[0]).load_in_background()
    understanding = preflight_understanding(understanding_config_from(opts), offline=so.offline)
    store_config = store_config_from(opts)
    store = prepare_store(store_config, visual, understanding.text)
    run_id = new_run_id()
    started = time.monotonic()

    measured: dict[str, dict] = {}

    def execute() -> None:
        with store_for_workers(store_config, opts) as workers_store:
            p = test_pipeline or beam.Pipeline(options=opts)
            build_index_pipeline(p, listing.files, opts, run_id, visual[0] if visual else None,
                                 workers_store, understanding)
            result = p.run()
            if not must_wait(opts):  # a submitted Dataflow/Flink job runs on without us
                return
            result.wait_until_finish()
        try:
            measured["stages"] = {**stage_seconds(result), **model_stage_seconds(result)}
            measured["counters"] = counters(result)
        except Exception as exc:  # some runners report no metrics; figures are optional
            log.info("no pipeline metrics: %s", exc)

    if on_progress is None:
        execute()
    else:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                execute()
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        worker = threading.Thread(target=target, name="sceneline-pipeline", daemon=True)
        worker.start()
        total = len(listing.files)
        while worker.is_alive():
            worker.join(timeout=0.5)
            try:
                counts = store.count_status(run_id)
                on_progress(counts.get("indexed", 0) + counts.get("failed", 0), total)
            except Exception:  # progress is cosmetic; never let it break a run
                pass
        if errors:
            raise errors[0]
        on_progress(total, total)

    return IndexRun(run_id=run_id, listing=listing, outcomes=read_outcomes(so.run_dir, run_id),
                    elapsed_s=time.monotonic() - started, stage_seconds=measured.get("stages", {}),
                    counters=measured.get("counters", {}))
