"""`sceneline stream` end to end: the real Pub/Sub emulator, fake-gcs-server publishing real
notifications of real uploads, the tiny open_clip model, and a local index folder that other
processes read while the stream runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from clips import write_shots
from conftest import media
from sceneline.pipelines.search import search_scenes
from sceneline.schemas import AssetStatus, SearchRequest
from sceneline.schemas.ids import asset_id_for_object
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients
from sceneline.benchmarks.stream_process import StreamProcess, outcome_of, sceneline_command

pytestmark = pytest.mark.slow

GT = "groundtruth/gt_hardcuts.mp4"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small clips of real footage with hard cuts (a two-shot and a three-shot one)."""
    folder = tmp_path_factory.mktemp("clips")
    source = media(GT)
    two, three = folder / "two_shots.mp4", folder / "three_shots.mp4"
    write_shots(two, [(source, 0, 40), (source, 180, 40)], size=(160, 90))
    write_shots(three, [(source, 290, 30), (source, 440, 30), (source, 540, 30)], size=(160, 90))
    return {"two": two, "three": three}


@pytest.fixture(scope="module")
def stream(bucket_events, tiny_clip, tmp_path_factory):
    """A bucket, a subscription to its notifications (and an audit copy of them), and
    `sceneline stream` running on it in its own working folder."""
    work = tmp_path_factory.mktemp("stream")
    bucket = bucket_events.create_bucket()
    subscription = bucket_events.subscribe("stream")
    audit = bucket_events.subscribe("audit")  # every notification, for tests to replay
    process = StreamProcess(subscription, cwd=work, env={**bucket_events.env(), "SCENELINE_OFFLINE": "1"},
                            args=["--visual-model", tiny_clip.spec, "--captioner", "none"])  # OCR, text model on
    try:
        process.wait_ready()
        store = SceneStore(StoreConfig(path=str(work / ".sceneline" / "qdrant")))  # through the stream's store service
        yield {"process": process, "bucket": bucket, "work": work, "store": store, "audit": audit,
               "events": bucket_events}
    finally:
        close_shared_clients()
        assert process.stop() == 0, process.log()


def upload(bucket, name: str, path: Path | None = None, data: bytes | None = None):
    blob = bucket.blob(name)
    if path is not None:
        blob.upload_from_filename(str(path))
    else:
        blob.upload_from_string(data)
    return blob  # its generation is the one uploaded


def audited_notification(stream, name: str, event_type: str, timeout_s: float = 30):
    """The real notification fake-gcs-server sent for an object, from the audit subscription."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in stream["events"].pubsub.pull_all(stream["audit"]):
            if message.attributes["objectId"] == name and message.attributes["eventType"] == event_type:
                return message
        time.sleep(0.2)
    raise AssertionError(f"no {event_type} notification of {name}")


def uri(bucket, name: str) -> str:
    return f"gs://{bucket.name}/{name}"


def test_uploaded_videos_and_images_become_searchable_scenes(stream, clips):
    bucket, process, store = stream["bucket"], stream["process"], stream["store"]
    video = upload(bucket, "clips/two_shots.mp4", clips["two"])
    image = upload(bucket, "photos/chelsea.png", media("images/misc/imageio_chelsea.png"))

    [video_outcome] = process.wait_for(outcome_of(uri(bucket, video.name), "indexed"))
    [image_outcome] = process.wait_for(outcome_of(uri(bucket, image.name), "indexed"))
    # The asset id is the object generation's: bucket, name and generation.
    assert video_outcome["asset_id"] == asset_id_for_object(bucket.name, video.name, video.generation)
    assert image_outcome["asset_id"] == asset_id_for_object(bucket.name, image.name, image.generation)

    scenes = store.scenes_of(video_outcome["asset_id"])
    assert video_outcome["scene_count"] == len(scenes) == 2  # the clip's two shots
    # The same stages as batch: visual vectors, and visible text read by OCR.
    assert all(s["models"]["ocr"] and "visible_text" in s for s in scenes)
    assert scenes[1]["start_s"] == pytest.approx(1.6, abs=0.05)
    assert all((stream["work"] / s["thumbnail_uri"]).is_file() for s in scenes)  # relative to its folder
    status = store.get_status(video_outcome["asset_id"])
    assert status.status is AssetStatus.INDEXED and status.generation == str(video.generation)

    hits = search_scenes(store, SearchRequest(image_path=str(media("images/misc/imageio_chelsea.png")), limit=3))
    assert hits[0].uri == uri(bucket, image.name) and hits[0].score == pytest.approx(1.0, abs=0.02)


def test_the_same_notification_ten_more_times_adds_nothing(stream):
    bucket, process, store, events = stream["bucket"], stream["process"], stream["store"], stream["events"]
    image = upload(bucket, "photos/fruits.jpg", media("images/misc/opencv_fruits.jpg"))
    target = uri(bucket, image.name)
    [first] = process.wait_for(outcome_of(target, "indexed"))
    points = store.count_scenes()

    notification = audited_notification(stream, image.name, "OBJECT_FINALIZE")
    for _ in range(10):
        events.pubsub.publish(events.topic, notification.data, **dict(notification.attributes))

    duplicates = process.wait_for(outcome_of(target, "duplicate"), count=10)
    assert {d["asset_id"] for d in duplicates} == {first["asset_id"]}
    assert store.count_scenes() == points
    assert store.get_status(first["asset_id"]).status is AssetStatus.INDEXED
    assert len([o for o in process.outcomes if o["uri"] == target]) == 11  # nothing else came of them


def test_an_overwrite_replaces_the_scenes_and_a_delete_removes_them(stream, clips):
    bucket, process, store = stream["bucket"], stream["process"], stream["store"]
    name = "clips/replaced.mp4"
    target = uri(bucket, name)
    first = upload(bucket, name, clips["two"])
    [old] = process.wait_for(lambda o: o["uri"] == target and o["kind"] == "indexed")
    assert store.count_scenes(old["asset_id"]) == 2

    second = upload(bucket, name, clips["three"])  # a new generation of the same object
    assert second.generation != first.generation
    new_id = asset_id_for_object(bucket.name, name, second.generation)
    [new] = process.wait_for(lambda o: o["asset_id"] == new_id and o["kind"] == "indexed")
    assert new["scene_count"] == 3
    # The overwrite's own delete event (old generation) changes nothing by itself.
    [overwrite] = process.wait_for(lambda o: o["asset_id"] == old["asset_id"] and o["kind"] == "ignored")
    assert "overwritten" in overwrite["detail"]
    assert store.count_scenes(old["asset_id"]) == 0 and store.count_scenes(new_id) == 3
    replaced = store.get_status(old["asset_id"])
    assert replaced.status is AssetStatus.DELETED and new_id in replaced.error_message

    bucket.blob(name).delete()
    process.wait_for(lambda o: o["asset_id"] == new_id and o["kind"] == "deleted")
    assert store.count_scenes(new_id) == 0
    assert store.get_status(new_id).status is AssetStatus.DELETED


def test_a_corrupt_upload_fails_with_a_reason_and_later_uploads_still_index(stream):
    bucket, process, store, events = stream["bucket"], stream["process"], stream["store"], stream["events"]
    broken = upload(bucket, "clips/broken.mp4", data=os.urandom(20_000))
    later = upload(bucket, "photos/later.jpg", media("images/misc/opencv_apple.jpg"))
    events.pubsub.publish(events.topic, b"not a notification", origin="a test")  # a poison message

    [failed] = process.wait_for(outcome_of(uri(bucket, broken.name), "failed"))
    assert "unknown data" in failed["detail"]
    record = store.get_status(failed["asset_id"])
    assert record.status is AssetStatus.FAILED and record.stage == "admit" and "unknown data" in record.error_message
    process.wait_for(outcome_of(uri(bucket, later.name), "indexed"))
    [rejected] = process.wait_for(lambda o: o["kind"] == "rejected")
    assert "not a Cloud Storage notification" in rejected["detail"]

    letters = stream["work"] / ".sceneline" / "dead_letters" / "stream-stream"
    letter = json.loads((letters / f"{failed['asset_id']}.json").read_text())
    assert letter["stage"] == "admit" and letter["error_type"] == "MediaError" and letter["message"]
    assert letter["original_message"]["attributes"]["objectId"] == broken.name
    assert json.loads(letter["original_message"]["data"])["generation"] == str(broken.generation)
    poison = json.loads((letters / f"message-{rejected['message_id']}.json").read_text())
    assert poison["stage"] == "event" and poison["original_message"]["data"] == "not a notification"


def test_search_and_status_work_from_other_processes_while_the_stream_runs(stream):
    bucket, process, work = stream["bucket"], stream["process"], stream["work"]
    image = upload(bucket, "photos/butterfly.jpg", media("images/misc/opencv_butterfly.jpg"))
    [indexed] = process.wait_for(outcome_of(uri(bucket, image.name), "indexed"))
    env = {**os.environ, "SCENELINE_OFFLINE": "1"}

    status = subprocess.run(sceneline_command() + ["status", indexed["asset_id"], "--json"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)[0]["status"] == "indexed"
    search = subprocess.run(sceneline_command() + ["search", "--image", str(media("images/misc/opencv_butterfly.jpg")),
                                                   "--limit", "2", "--json"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)[0]["uri"] == uri(bucket, image.name)
