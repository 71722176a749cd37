"""Resuming a batch run: what the store already holds as indexed is not indexed again.

An asset id is a hash of the content, and a collection admits only the models it was built with
(store.ensure_collections), so an `indexed` status for the same id in the same collection means
the same content indexed with the same models. Anything else (no status, pending or processing
when a run was killed, failed) is indexed again; writes are idempotent, so a half-written asset
is simply rewritten.
"""

from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam

from sceneline.schemas import AssetRecord, AssetStatus, MediaAsset
from sceneline.transforms.sinks import StoreDoFn
from sceneline.transforms.stages import with_retries

log = logging.getLogger(__name__)

ALREADY_INDEXED_TAG = "already_indexed"


def already_indexed_record(asset: MediaAsset, current: AssetRecord) -> AssetRecord:
    return AssetRecord(
        asset_id=asset.asset_id, uri=asset.uri, filename=asset.filename, media_type=asset.media_type,
        status=AssetStatus.SKIPPED, error_type="AlreadyIndexed", scene_count=current.scene_count,
        size_bytes=asset.size_bytes, duration_s=current.duration_s,
        error_message=f"already indexed by run {current.run_id} ({current.scene_count} scenes); resumed runs skip it")


class SkipIndexed(StoreDoFn):
    """MediaAsset -> the asset, or (tagged `already_indexed`) a skipped record when the store
    holds it as indexed."""

    def process(self, asset: MediaAsset) -> Iterator:
        try:
            current = with_retries(lambda: self._store.get_status(asset.asset_id))
        except Exception as exc:  # unknown: index it again, which is safe
            log.warning("could not read the status of %s; indexing it again: %s", asset.uri, exc)
            current = None
        if current is not None and current.status is AssetStatus.INDEXED:
            yield beam.pvalue.TaggedOutput(ALREADY_INDEXED_TAG, already_indexed_record(asset, current))
            return
        yield asset
