"""The index chain both pipelines share: admitted assets in, scenes in the store out.

    (key, MediaAsset) -> pending -> [spread over workers] -> processing -> analyse -> embed
      -> [understanding: visible text, captions, text vectors] -> thumbnails
      -> write scenes + status=indexed                        => (key, AssetRecord)
    every stage's failures                                    => (key, Failure)

Each element keeps its key from start to end: the batch pipeline keys by asset id, the stream
by the Pub/Sub delivery, so its last step can acknowledge the message once the outcome is
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from sceneline.pipelines.understanding import UnderstandingConfig, UnderstandingModels, add_understanding
from sceneline.schemas import AssetStatus
from sceneline.transforms.media.analyze import AnalysisConfig, AnalyzeMedia
from sceneline.transforms.models.embed import ClipImageEmbeddingHandler, EmbedKeyframes
from sceneline.transforms.models.model_spec import ClipSpec
from sceneline.transforms.keyed import KeepKeys
from sceneline.transforms.sinks import FAILED_TAG, MarkStatus, WriteThumbnails, WriteToIndex
from sceneline.transforms.store.scene_store import StoreConfig


@dataclass(frozen=True)
class IndexSettings:
    store: StoreConfig
    run_id: str
    analysis: AnalysisConfig
    thumbnails: str
    visual_spec: ClipSpec | None = None  # parsed once, by preflight
    embedding: ClipImageEmbeddingHandler | None = None
    understanding: tuple[UnderstandingConfig, UnderstandingModels] | None = None
    # A Reshuffle after `pending` spreads assets over workers. It groups by key, so it needs a
    # source that holds the watermark back; the local stream's source cannot (see
    # transforms/io/pubsub_source.py) and runs on one worker anyway, so it goes without.
    spread_over_workers: bool = True
    # Long videos split into time segments that are grouped again by asset. That grouping waits
    # for the end of input (a global window): right for batch, never fires in a stream, where
    # each upload is analysed whole on one worker.
    split_long_videos: bool = True


class IndexAssets(beam.PTransform):
    """(key, MediaAsset) -> a tuple (records, failures): (key, AssetRecord) for each asset
    written (indexed, or deleted if it was removed meanwhile) and (key, Failure) for each asset
    that failed at any stage."""

    def __init__(self, settings: IndexSettings):
        super().__init__()
        self._s = settings

    def expand(self, keyed_assets):
        s = self._s
        pending = keyed_assets | "MarkPending" >> beam.ParDo(KeepKeys(MarkStatus(s.store, s.run_id, AssetStatus.PENDING)))
        if s.spread_over_workers:
            pending = pending | "SpreadOverWorkers" >> beam.Reshuffle()
        analyzed = (
            pending
            | "MarkProcessing" >> beam.ParDo(KeepKeys(MarkStatus(s.store, s.run_id, AssetStatus.PROCESSING)))
            | "Analyze" >> AnalyzeMedia(s.analysis, split_long_videos=s.split_long_videos)
        )
        failures = [analyzed["failed"]]
        ready = analyzed["analyzed"]
        if s.visual_spec and s.embedding is not None:
            ready, embed_failures = ready | "EmbedKeyframes" >> EmbedKeyframes(s.embedding, s.visual_spec.raw)
            failures.append(embed_failures)
        if s.understanding is not None:
            ready, understanding_failures = add_understanding(ready, *s.understanding)
            failures += understanding_failures
        thumbs = ready | "Thumbnails" >> beam.ParDo(KeepKeys(WriteThumbnails(s.thumbnails))).with_outputs(
            FAILED_TAG, main="scenes")
        written = thumbs.scenes | "WriteToIndex" >> beam.ParDo(KeepKeys(WriteToIndex(s.store, s.run_id))).with_outputs(
            FAILED_TAG, main="records")
        failures += [thumbs[FAILED_TAG], written[FAILED_TAG]]
        return written.records, failures | "IndexFailures" >> beam.Flatten()
