"""Writing results: thumbnails, scenes and status records in the store, dead letters.

Every asset that enters ends as an AssetRecord (indexed, failed or skipped) on the outcome
output; every failure is also a dead letter. Nothing is silently dropped.
"""

from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam

from sceneline.schemas import (
    AnalyzedAsset,
    AssetRecord,
    AssetStatus,
    Failure,
    FailureStage,
    MediaAsset,
)
from sceneline.schemas.speech import TRANSCRIBER_MODEL_KEY
from sceneline.transforms.media.keyframes import thumbnail_jpeg
from sceneline.transforms.io.media_io import join, write_bytes
from sceneline.transforms.metrics import timed
from sceneline.transforms.stages import FAILED_TAG, with_retries  # noqa: F401 (re-exported)
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig

log = logging.getLogger(__name__)


def thumbnail_uri(thumbnails_dir: str, asset_id: str, scene_index: int) -> str:
    # Names come from ids only, so no object name can place a file outside the folder.
    return join(thumbnails_dir, asset_id, f"{scene_index:05d}.jpg")


class WriteThumbnails(beam.DoFn):
    """Write each scene's thumbnail (from its middle keyframe) and record where it went."""

    def __init__(self, thumbnails_dir: str):
        self._dir = thumbnails_dir

    def process(self, analyzed: AnalyzedAsset) -> Iterator:
        try:
            with timed("thumbnails"):
                scenes = self._write(analyzed)
        except Exception as exc:
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc, uri=analyzed.asset.uri, stage=FailureStage.THUMBNAILS, asset_id=analyzed.asset.asset_id))
            return
        yield analyzed.model_copy(update={"scenes": scenes})

    def _write(self, analyzed: AnalyzedAsset) -> list:
        scenes = []
        for scene in analyzed.scenes:
            keyframe = scene.thumbnail_keyframe()
            uri = None
            if keyframe is not None:
                uri = thumbnail_uri(self._dir, analyzed.asset.asset_id, scene.index)
                write_bytes(uri, thumbnail_jpeg(keyframe.jpeg))
            scenes.append(scene.model_copy(update={"thumbnail_uri": uri}))
        return scenes


def status_record(asset: MediaAsset, status: AssetStatus, run_id: str) -> AssetRecord:
    return AssetRecord(asset_id=asset.asset_id, uri=asset.uri, filename=asset.filename, media_type=asset.media_type,
                       status=status, size_bytes=asset.size_bytes, generation=asset.generation, run_id=run_id)


class StoreDoFn(beam.DoFn):
    """A DoFn that reads or writes the store (one shared client per process)."""

    def __init__(self, store_config: StoreConfig, run_id: str):
        self._store_config = store_config
        self._run_id = run_id
        self._store: SceneStore | None = None
        self._routed: dict[str, SceneStore] = {}

    def setup(self) -> None:
        self._store = SceneStore(self._store_config)
        self._routed = {}

    def _store_of(self, uri: str) -> SceneStore:
        """The store of the object at `uri`: its API index's collection (StoreConfig.for_object),
        made on first use like the run's own, or the run's collection."""
        config = self._store_config.for_object(uri)
        if config is self._store_config:
            return self._store
        store = self._routed.get(config.collection)
        if store is None:
            store = SceneStore(config)
            with_retries(lambda: store.ensure_collections_like(self._store))
            self._routed[config.collection] = store
        return store


class MarkStatus(StoreDoFn):
    """Record that an asset reached a stage (pending, processing) and pass it on unchanged."""

    def __init__(self, store_config: StoreConfig, run_id: str, status: AssetStatus):
        super().__init__(store_config, run_id)
        self._status = status

    def process(self, asset: MediaAsset) -> Iterator[MediaAsset]:
        record = status_record(asset, self._status, self._run_id)
        try:
            store = self._store_of(asset.uri)
            with_retries(lambda: store.put_status(record))
        except Exception as exc:  # status is bookkeeping: the final write reports store trouble
            log.warning("could not record status %s for %s: %s", self._status.value, asset.uri, exc)
        yield asset


class WriteToIndex(StoreDoFn):
    """Upsert an asset's scenes (and speech segments), retire older versions at the same URI, mark it indexed.

    Outputs the asset's final AssetRecord; a write that keeps failing goes to `failed`. An
    asset removed while it was being processed (its object deleted, or replaced by a newer
    generation) is not brought back: its record stays deleted.
    """

    def process(self, analyzed: AnalyzedAsset) -> Iterator:
        asset = analyzed.asset
        try:
            store = self._store_of(asset.uri)
            retired = with_retries(lambda: self._retired_meanwhile(store, asset))
            if retired is not None:
                yield retired
                return
            with timed("write"):
                written = with_retries(lambda: store.write_scenes(analyzed))
                if TRANSCRIBER_MODEL_KEY in analyzed.models:  # this run transcribed: its segments replace any old
                    with_retries(lambda: store.write_speech(analyzed))
                with_retries(lambda: store.supersede(asset.uri, asset.asset_id, self._run_id, asset.generation))
                record = AssetRecord(
                    asset_id=asset.asset_id, uri=asset.uri, filename=asset.filename, media_type=asset.media_type,
                    status=AssetStatus.INDEXED, scene_count=written, size_bytes=asset.size_bytes,
                    duration_s=analyzed.probe.duration_s, generation=asset.generation, run_id=self._run_id,
                    error_message="; ".join(analyzed.probe.warnings) or None,
                )
                with_retries(lambda: store.put_status(record))
        except Exception as exc:
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc, uri=asset.uri, stage=FailureStage.WRITE, asset_id=asset.asset_id))
            return
        yield record

    def _retired_meanwhile(self, store: SceneStore, asset: MediaAsset) -> AssetRecord | None:
        current = store.get_status(asset.asset_id)
        if current is not None and current.status is AssetStatus.DELETED:
            return current
        newer = store.newer_generation(asset.uri, asset.generation) if asset.generation else None
        if newer is None:
            return None
        return store.retire(current or status_record(asset, AssetStatus.PROCESSING, self._run_id),
                                  f"replaced by generation {newer.generation} (asset {newer.asset_id})", self._run_id)


def failure_record(failure: Failure, run_id: str) -> AssetRecord:
    filename = failure.uri.rstrip("/").rsplit("/", 1)[-1]
    return AssetRecord(
        asset_id=failure.asset_id, uri=failure.uri, filename=filename, status=AssetStatus.FAILED,
        stage=failure.stage.value, error_type=failure.error_type, error_message=failure.message,
        retryable=failure.retryable, run_id=run_id,
    )


class RecordFailures(StoreDoFn):
    """Mark failed assets in the store and emit their final records (even if the store is down)."""

    def process(self, failure: Failure) -> Iterator[AssetRecord]:
        record = failure_record(failure, self._run_id)
        if record.asset_id:
            try:
                store = self._store_of(record.uri)
                previous = store.get_status(record.asset_id)
                if previous is not None:  # keep what admission learnt about the asset
                    record = record.model_copy(update={
                        "media_type": previous.media_type, "size_bytes": previous.size_bytes,
                        "generation": previous.generation})
                with_retries(lambda: store.put_status(record))
                if record.generation:
                    # A bucket object's failed new generation still replaces the older ones:
                    # the bucket no longer holds what their scenes show.
                    with_retries(lambda: store.supersede(record.uri, record.asset_id, self._run_id,
                                                         record.generation))
            except Exception as exc:
                log.error("could not record the failure of %s in the store: %s", failure.uri, exc)
        yield record


class RecordStatus(StoreDoFn):
    """Put an outcome record in the store and pass it on (one without an asset id has no place
    there: a skipped local file)."""

    def process(self, record: AssetRecord) -> Iterator[AssetRecord]:
        if record.asset_id:
            try:
                store = self._store_of(record.uri)
                with_retries(lambda: store.put_status(record.model_copy(update={"run_id": self._run_id})))
            except Exception as exc:  # bookkeeping: the outcome still goes on
                log.warning("could not record status %s for %s: %s", record.status.value, record.uri, exc)
        yield record
