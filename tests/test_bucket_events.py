"""Bucket events, one step at a time: reading notifications (the attributes and object resource
below are as fake-gcs-server and Cloud Storage send them), deciding what each asks of the index
against what the store records, and removals. The store is a real in-memory Qdrant."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from sceneline.schemas import (
    AnalyzedAsset,
    AssetRecord,
    AssetStatus,
    Failure,
    FailureStage,
    InputFile,
    MediaAsset,
    MediaType,
    ProbeInfo,
    Scene,
)
from sceneline.schemas.events import (
    BucketNotification,
    EventOutcome,
    EventType,
    NotificationError,
    OutcomeKind,
    PubsubDelivery,
)
from sceneline.schemas.ids import asset_id_for_object
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.bucket_events import (
    REJECTED_TAG,
    REMOVALS_TAG,
    SETTLED_TAG,
    ParseNotifications,
    RemoveDeletedObjects,
    RouteBucketEvents,
)
from sceneline.transforms.admit import SKIPPED_TAG, AdmitInputs
from sceneline.transforms.sinks import RecordFailures, RecordStatus, WriteToIndex
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

BUCKET, NAME = "media-bkt", "clips/a b.mp4"
GEN1, GEN2 = "1795252383990826", "1795252383993007"


def resource(generation: str, name: str = NAME, **extra) -> dict:
    return {"kind": "storage#object", "id": f"{BUCKET}/{name}#{generation}", "name": name, "bucket": BUCKET,
            "generation": generation, "contentType": "video/mp4", "size": "2048", **extra}


def delivery(event_type: str, generation: str, data: bytes | None = None, message_id: str | None = None,
             **attributes: str) -> PubsubDelivery:
    attrs = {"bucketId": BUCKET, "objectId": NAME, "eventType": event_type, "objectGeneration": generation,
             "payloadFormat": "JSON_API_V1", "eventTime": "2026-11-21T09:13:03Z", **attributes}
    body = (json.dumps(resource(generation, attrs["objectId"], metadata={"camera": "b"})).encode()
            if data is None else data)
    return PubsubDelivery(subscription="projects/p1/subscriptions/s1", message_id=message_id or uuid.uuid4().hex,
                          data=body, attributes=attrs, ack_id="ack-1")


# ---- reading notifications ---------------------------------------------------------------------

def test_an_upload_notification_names_the_generation_and_its_asset():
    event = BucketNotification.from_delivery(delivery("OBJECT_FINALIZE", GEN2, overwroteGeneration=GEN1))
    assert event.event_type is EventType.FINALIZE and event.overwrote_generation == GEN1
    assert event.uri == f"gs://{BUCKET}/{NAME}" and event.filename == "a b.mp4"
    assert event.asset_id == asset_id_for_object(BUCKET, NAME, GEN2) != asset_id_for_object(BUCKET, NAME, GEN1)
    assert event.input_file() == InputFile(uri=event.uri, size_bytes=2048, bucket=BUCKET, object_name=NAME,
                                           generation=GEN2, user_metadata={"camera": "b"})


def test_an_overwrite_delete_is_told_from_a_delete():
    overwrite = BucketNotification.from_delivery(delivery("OBJECT_DELETE", GEN1, overwrittenByGeneration=GEN2))
    deleted = BucketNotification.from_delivery(delivery("OBJECT_DELETE", GEN2))
    archived = BucketNotification.from_delivery(delivery("OBJECT_ARCHIVE", GEN2))
    assert overwrite.is_overwrite and not deleted.is_overwrite and not archived.is_overwrite
    assert deleted.event_type.removes_object and archived.event_type.removes_object


def test_a_notification_without_payload_is_read_from_its_attributes():
    event = BucketNotification.from_delivery(delivery("OBJECT_FINALIZE", GEN1, data=b"", payloadFormat="NONE"))
    assert event.resource is None and event.input_file().size_bytes is None


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.attributes.pop("objectGeneration"), "objectGeneration missing"),
    (lambda d: d.attributes.update(eventType="OBJECT_RENAMED"), "unknown eventType"),
    (lambda d: d.attributes.update(payloadFormat="XML"), "unknown payloadFormat"),
    (lambda d: d.attributes.update(eventTime="yesterday"), "eventTime"),
    (lambda d: setattr(d, "data", b"{not json"), "not the JSON object resource"),
    (lambda d: setattr(d, "data", b"[1, 2]"), "not an object resource"),
    (lambda d: setattr(d, "data", json.dumps({"name": NAME}).encode()), "object resource in the data is malformed"),
    (lambda d: setattr(d, "data", json.dumps(resource(GEN2)).encode()), "objectGeneration='1795252383990826' "
                                                                         "disagrees"),
])
def test_malformed_notifications_are_refused_with_the_reason(change, reason):
    message = delivery("OBJECT_FINALIZE", GEN1)
    change(message)
    with pytest.raises(NotificationError, match=reason):
        BucketNotification.from_delivery(message)


def test_a_generation_must_be_a_number():
    message = delivery("OBJECT_FINALIZE", "12a", data=b"", payloadFormat="NONE")
    with pytest.raises(NotificationError, match="decimal number"):
        BucketNotification.from_delivery(message)


def test_a_poison_message_becomes_a_rejection_with_its_reason():
    poison = PubsubDelivery(subscription="projects/p1/subscriptions/s1", message_id="42", data=b"\xff\x00",
                            attributes={"origin": "elsewhere"})
    [out] = ParseNotifications().process(poison)
    assert out.tag == REJECTED_TAG
    message, failure = out.value
    assert message is poison and failure.stage is FailureStage.EVENT and failure.asset_id is None
    assert "not a Cloud Storage notification" in failure.message and failure.uri.endswith("#42")
    assert poison.original_message()["data_base64"] == "/wA="
    assert EventOutcome.of_record(AssetRecord(asset_id=None, uri=failure.uri, filename="x", status=AssetStatus.FAILED,
                                              stage="event")).kind is OutcomeKind.REJECTED


# ---- routing against the store ----------------------------------------------------------------

@pytest.fixture
def store_config():
    config = StoreConfig(path=":memory:", collection=f"ev_{uuid.uuid4().hex[:8]}")
    SceneStore(config).ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
    yield config
    close_shared_clients()


def started(dofn, config):
    dofn.setup()
    return dofn


def route(config, message: PubsubDelivery) -> list:
    router = started(RouteBucketEvents(config, "run-1"), config)
    return list(router.process((message, BucketNotification.from_delivery(message))))


def record(generation: str, status: AssetStatus, **fields) -> AssetRecord:
    return AssetRecord(asset_id=asset_id_for_object(BUCKET, NAME, generation), uri=f"gs://{BUCKET}/{NAME}",
                       filename="a b.mp4", status=status, generation=generation, **fields)


def test_a_new_upload_is_recorded_pending_and_sent_on_to_admission(store_config):
    message = delivery("OBJECT_FINALIZE", GEN1)
    [(out_message, input_file)] = route(store_config, message)
    assert out_message is message and input_file.generation == GEN1
    pending = SceneStore(store_config).get_status(asset_id_for_object(BUCKET, NAME, GEN1))
    assert pending.status is AssetStatus.PENDING and pending.size_bytes == 2048 and pending.run_id == "run-1"


@pytest.mark.parametrize("previous, again", [
    (record(GEN1, AssetStatus.INDEXED, scene_count=3), False),
    (record(GEN1, AssetStatus.DELETED), False),
    (record(GEN1, AssetStatus.FAILED, retryable=False), False),
    (record(GEN1, AssetStatus.FAILED, retryable=True), True),  # a retry may help: index it again
    (record(GEN1, AssetStatus.PROCESSING), True),  # a crash in the middle: finish it
])
def test_an_upload_already_handled_is_a_duplicate(store_config, previous, again):
    SceneStore(store_config).put_status(previous)
    [out] = route(store_config, delivery("OBJECT_FINALIZE", GEN1))
    if again:
        assert isinstance(out[1], InputFile)
        return
    assert out.tag == SETTLED_TAG and out.value[1].kind is OutcomeKind.DUPLICATE
    assert SceneStore(store_config).get_status(previous.asset_id).status is previous.status  # untouched


def test_a_late_upload_event_of_an_overwritten_generation_is_not_read(store_config):
    store = SceneStore(store_config)
    store.put_status(record(GEN2, AssetStatus.INDEXED, scene_count=2))
    [out] = route(store_config, delivery("OBJECT_FINALIZE", GEN1))
    outcome = out.value[1]
    assert out.tag == SETTLED_TAG and outcome.kind is OutcomeKind.DELETED and GEN2 in outcome.detail
    assert store.get_status(asset_id_for_object(BUCKET, NAME, GEN1)).status is AssetStatus.DELETED
    assert store.get_status(asset_id_for_object(BUCKET, NAME, GEN2)).status is AssetStatus.INDEXED


@pytest.mark.parametrize("event_type, attributes, tag, kind", [
    ("OBJECT_FINALIZE", {"objectId": ".sceneline/thumbnails/x.jpg"}, SETTLED_TAG, OutcomeKind.IGNORED),
    ("OBJECT_DELETE", {"overwrittenByGeneration": GEN2}, SETTLED_TAG, OutcomeKind.IGNORED),
    ("OBJECT_ARCHIVE", {"overwrittenByGeneration": GEN2}, SETTLED_TAG, OutcomeKind.IGNORED),
    ("OBJECT_METADATA_UPDATE", {}, SETTLED_TAG, OutcomeKind.IGNORED),
    ("OBJECT_DELETE", {}, REMOVALS_TAG, None),
    ("OBJECT_ARCHIVE", {}, REMOVALS_TAG, None),
])
def test_removals_and_other_events_are_routed(store_config, event_type, attributes, tag, kind):
    [out] = route(store_config, delivery(event_type, GEN1, **attributes))
    assert out.tag == tag
    if kind is not None:
        assert out.value[1].kind is kind


def analyzed(generation: str, n_scenes: int) -> AnalyzedAsset:
    asset = MediaAsset(asset_id=asset_id_for_object(BUCKET, NAME, generation), uri=f"gs://{BUCKET}/{NAME}",
                       media_type=MediaType.VIDEO, size_bytes=2048, bucket=BUCKET, object_name=NAME,
                       generation=generation)
    vector = (np.ones(4) / 2).tolist()
    scenes = [Scene(index=i, start_s=i, end_s=i + 1, start_frame=i * 25, end_frame=i * 25 + 24,
                    vectors={VISUAL_VECTOR: vector}) for i in range(n_scenes)]
    return AnalyzedAsset(asset=asset, probe=ProbeInfo(duration_s=n_scenes), scenes=scenes)


def test_a_delete_removes_the_generations_scenes(store_config):
    store = SceneStore(store_config)
    writer = started(WriteToIndex(store_config, "run-1"), store_config)
    [indexed] = writer.process(analyzed(GEN1, 3))
    assert indexed.status is AssetStatus.INDEXED and store.count_scenes(indexed.asset_id) == 3

    message = delivery("OBJECT_DELETE", GEN1)
    remover = started(RemoveDeletedObjects(store_config, "run-1"), store_config)
    [(out_message, outcome)] = remover.process((message, BucketNotification.from_delivery(message)))
    assert outcome.kind is OutcomeKind.DELETED and "removed from the bucket" in outcome.detail
    assert store.count_scenes(indexed.asset_id) == 0
    assert store.get_status(indexed.asset_id).status is AssetStatus.DELETED


def test_a_delete_before_the_upload_is_indexed_keeps_it_out(store_config):
    message = delivery("OBJECT_DELETE", GEN1)
    remover = started(RemoveDeletedObjects(store_config, "run-1"), store_config)
    [(_, outcome)] = remover.process((message, BucketNotification.from_delivery(message)))
    assert outcome.kind is OutcomeKind.DELETED
    # Its upload event, delivered late, is a duplicate of a deleted asset ...
    [out] = route(store_config, delivery("OBJECT_FINALIZE", GEN1))
    assert out.value[1].kind is OutcomeKind.DUPLICATE
    # ... and an upload already past routing writes nothing when it reaches the index.
    [written] = started(WriteToIndex(store_config, "run-1"), store_config).process(analyzed(GEN1, 2))
    assert written.status is AssetStatus.DELETED and SceneStore(store_config).count_scenes() == 0


def test_an_older_generation_written_last_never_replaces_a_newer_one(store_config):
    store = SceneStore(store_config)
    writer = started(WriteToIndex(store_config, "run-1"), store_config)
    [newer] = writer.process(analyzed(GEN2, 2))
    [older] = writer.process(analyzed(GEN1, 3))  # its events came late, in any order
    assert newer.status is AssetStatus.INDEXED and store.count_scenes(newer.asset_id) == 2
    assert older.status is AssetStatus.DELETED and store.count_scenes(older.asset_id) == 0
    assert GEN2 in older.error_message
    assert store.get_status(newer.asset_id).status is AssetStatus.INDEXED


def test_a_failed_new_generation_still_replaces_the_old_scenes(store_config):
    store = SceneStore(store_config)
    [old] = started(WriteToIndex(store_config, "run-1"), store_config).process(analyzed(GEN1, 2))
    store.put_status(record(GEN2, AssetStatus.PROCESSING))
    failure = Failure(asset_id=asset_id_for_object(BUCKET, NAME, GEN2), uri=f"gs://{BUCKET}/{NAME}",
                      stage=FailureStage.DECODE, error_type="MediaError", message="truncated")
    [failed] = started(RecordFailures(store_config, "run-1"), store_config).process(failure)
    assert failed.status is AssetStatus.FAILED and failed.generation == GEN2
    assert store.count_scenes(old.asset_id) == 0 and store.get_status(old.asset_id).status is AssetStatus.DELETED


def test_an_object_that_is_not_media_is_skipped_under_its_object_id(store_config, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not media\n")
    upload = InputFile(uri=str(text), bucket=BUCKET, object_name="notes.txt", generation=GEN1)
    [out] = AdmitInputs(identity="object").process(upload)
    assert out.tag == SKIPPED_TAG and out.value.asset_id == asset_id_for_object(BUCKET, "notes.txt", GEN1)
    [kept] = started(RecordStatus(store_config, "run-1"), store_config).process(out.value)
    assert SceneStore(store_config).get_status(kept.asset_id).status is AssetStatus.SKIPPED
