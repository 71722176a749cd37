"""Bucket events in the stream: read each notification, decide what it asks of the index, and
carry out removals. Uploads go on to the index chain (pipelines/index_assets.py).

Pub/Sub delivers at least once and in no particular order, so every decision here is made
against what the store already records for the object:

- an upload (OBJECT_FINALIZE) whose asset is already indexed, skipped, deleted, or failed for
  good is a duplicate and changes nothing; one for which a later generation is already known is stale and
  is recorded as replaced, without reading bytes that are gone;
- a removal (OBJECT_DELETE or OBJECT_ARCHIVE) of a version that a new upload overwrote changes
  nothing: the new generation's write replaces those scenes, so search never goes empty in
  between; any other removal deletes the generation's scenes, or leaves a deleted record when
  the upload was never indexed, so its late upload event cannot bring it back;
- hidden objects (a name part starting with ".") are skipped, as batch listings skip them.
"""

from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam

from sceneline.schemas import AssetRecord, AssetStatus, Failure, FailureStage
from sceneline.schemas.events import (
    BucketNotification,
    EventOutcome,
    EventType,
    NotificationError,
    OutcomeKind,
    PubsubDelivery,
)
from sceneline.transforms.sinks import StoreDoFn
from sceneline.transforms.stages import FAILED_TAG, with_retries

log = logging.getLogger(__name__)

REJECTED_TAG = "rejected"
REMOVALS_TAG = "removals"
SETTLED_TAG = "settled"



class ParseNotifications(beam.DoFn):
    """PubsubDelivery -> (delivery, BucketNotification); a message that is not a well-formed
    notification goes to `rejected` as (delivery, Failure) with the reason."""

    def process(self, delivery: PubsubDelivery) -> Iterator:
        try:
            yield delivery, BucketNotification.from_delivery(delivery)
        except Exception as exc:  # a poison message must never stop the stream
            attrs = delivery.attributes
            uri = (f"gs://{attrs['bucketId']}/{attrs['objectId']}" if attrs.get("bucketId") and attrs.get("objectId")
                   else f"pubsub:{delivery.subscription}#{delivery.message_id}")
            reason = exc if isinstance(exc, NotificationError) else NotificationError(f"unreadable message: {exc!r}")
            yield beam.pvalue.TaggedOutput(REJECTED_TAG, (delivery, Failure.from_exception(
                reason, uri=uri, stage=FailureStage.EVENT)))


def _settled(delivery: PubsubDelivery, kind: OutcomeKind, event: BucketNotification, detail: str,
             record: AssetRecord | None = None) -> beam.pvalue.TaggedOutput:
    outcome = EventOutcome.of_record(record) if record is not None else EventOutcome(
        kind=kind, uri=event.uri, asset_id=event.asset_id)
    return beam.pvalue.TaggedOutput(SETTLED_TAG, (delivery, outcome.model_copy(update={"kind": kind,
                                                                                         "detail": detail})))


def _is_final(record: AssetRecord) -> bool:
    """Nothing more to do for this asset (a failure that a retry may fix is not final)."""
    if record.status is AssetStatus.FAILED:
        return not record.retryable
    return record.status in (AssetStatus.INDEXED, AssetStatus.SKIPPED, AssetStatus.DELETED)


class RouteBucketEvents(StoreDoFn):
    """(delivery, BucketNotification) -> (delivery, InputFile) for uploads to index, marked
    pending; `removals`: (delivery, notification) to remove; `settled`: (delivery, EventOutcome)
    for events that need nothing more (duplicates, stale or overwrite events, metadata updates)."""

    def process(self, keyed: tuple[PubsubDelivery, BucketNotification]) -> Iterator:
        delivery, event = keyed
        if event.is_hidden:
            yield _settled(delivery, OutcomeKind.IGNORED, event, "hidden object (a name part starts with '.')")
        elif event.event_type is EventType.FINALIZE:
            yield from self._upload(delivery, event)
        elif event.is_overwrite:
            yield _settled(delivery, OutcomeKind.IGNORED, event,
                           f"generation {event.generation} was overwritten by generation "
                           f"{event.overwritten_by_generation}, whose upload replaces its scenes")
        elif event.event_type.removes_object:
            yield beam.pvalue.TaggedOutput(REMOVALS_TAG, keyed)
        else:
            yield _settled(delivery, OutcomeKind.IGNORED, event, f"{event.event_type.value} changes no scene")

    def _upload(self, delivery: PubsubDelivery, event: BucketNotification) -> Iterator:
        try:
            store = self._store_of(event.uri)
            previous = with_retries(lambda: store.get_status(event.asset_id))
            if previous is not None and _is_final(previous):
                yield _settled(delivery, OutcomeKind.DUPLICATE, event,
                               f"already {previous.status.value}: a redelivered or repeated event", previous)
                return
            newer = with_retries(lambda: store.newer_generation(event.uri, event.generation))
            if newer is not None:
                record = with_retries(lambda: store.retire(
                    self._arrival(event), f"replaced by generation {newer.generation} before it was read "
                                          "(its event came late)", self._run_id))
                yield _settled(delivery, OutcomeKind.DELETED, event, record.error_message, record)
                return
            with_retries(lambda: store.put_status(self._arrival(event)))
        except Exception as exc:  # bookkeeping only: the index chain's writes report store trouble
            log.warning("could not check or record the arrival of %s: %s", event.uri, exc)
        yield delivery, event.input_file()

    def _arrival(self, event: BucketNotification) -> AssetRecord:
        resource = event.resource
        return AssetRecord(asset_id=event.asset_id, uri=event.uri, filename=event.filename,
                           status=AssetStatus.PENDING, size_bytes=resource.size if resource else None,
                           generation=event.generation, run_id=self._run_id)


class RemoveDeletedObjects(StoreDoFn):
    """(delivery, removal notification) -> (delivery, EventOutcome) once the generation's scenes
    are gone and its record says deleted; a store that keeps failing sends a Failure to `failed`."""

    def process(self, keyed: tuple[PubsubDelivery, BucketNotification]) -> Iterator:
        delivery, event = keyed
        reason = f"{event.event_type.value}: generation {event.generation} removed from the bucket"
        try:
            record = with_retries(lambda: self._remove(event, reason))
        except Exception as exc:
            yield beam.pvalue.TaggedOutput(FAILED_TAG, (delivery, Failure.from_exception(
                exc, uri=event.uri, stage=FailureStage.DELETE, asset_id=event.asset_id)))
            return
        yield delivery, EventOutcome.of_record(record)

    def _remove(self, event: BucketNotification, reason: str) -> AssetRecord:
        store = self._store_of(event.uri)
        removed = store.delete_asset(event.asset_id, reason)
        if removed is not None:
            return removed
        # Never indexed (or its upload event is still to come): a deleted record keeps it out.
        tombstone = AssetRecord(asset_id=event.asset_id, uri=event.uri, filename=event.filename,
                                status=AssetStatus.DELETED, scene_count=0, generation=event.generation,
                                run_id=self._run_id, error_message=reason)
        store.put_status(tombstone)
        return tombstone
