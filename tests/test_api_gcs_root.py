"""`sceneline serve --media-root gs://BUCKET/PREFIX`: uploads go to the bucket, `sceneline stream
--api-media-root` indexes them from the bucket's notifications into each API index's collection,
and the API reads status and results from the index.

All real: fake-gcs-server notifying the Pub/Sub emulator, `sceneline serve` and `sceneline stream`
as processes on the same index folder (the server owns it, the stream goes through it), and the
official TwelveLabs SDK as the client. Models are tiny (as in test_api_sdk.py)."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest
from api_server import fast_model_flags, running, wait_for_task
from conftest import media
from twelvelabs.errors import BadRequestError

from sceneline.benchmarks.stream_process import StreamProcess, outcome_of
from sceneline.pipelines.server.bucket_media import BucketMediaRoot
from sceneline.pipelines.server.errors import ApiError
from sceneline.schemas.bucket_root import BucketRoot
from sceneline.schemas import AssetStatus
from sceneline.schemas.ids import asset_id_for_object
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow

SLIDES = "videos/techslides_small.mp4"  # 560x320, 30 fps, 5.5 s
SHORT = "videos/imageio_realshort.mp4"  # 320x240, 30 fps, 1.2 s
PREFIX = "uploads"


@pytest.fixture(scope="module")
def topology(bucket_events, tiny_clip, tmp_path_factory):
    """A bucket, the server uploading into it, and the stream indexing its notifications."""
    bucket = bucket_events.create_bucket("api")
    root = f"gs://{bucket.name}/{PREFIX}"
    work = tmp_path_factory.mktemp("gcs-root")
    home = work / "home"
    models = fast_model_flags(tiny_clip.spec)
    with running(home, [*models, "--media-root", root]) as server:
        # The stream reaches the server's index folder through the server (it owns the folder), and
        # writes thumbnails into the hidden folder of the media root the server serves them from.
        stream = StreamProcess(bucket_events.subscribe("api-stream"), cwd=work,
                               env={**bucket_events.env(), "SCENELINE_OFFLINE": "1"},
                               args=[*models, "--transcriber", "none", "--qdrant-path", str(home / "qdrant"),
                                     "--thumbnails", f"{root}/.thumbnails", "--api-media-root", root])
        try:
            stream.wait_ready()
            yield {"server": server, "client": server.client(), "bucket": bucket, "stream": stream, "home": home}
        finally:
            close_shared_clients()
            assert stream.stop() == 0, stream.log()


@pytest.fixture(scope="module")
def index_id(topology):
    return topology["client"].indexes.create(index_name="gcs", models=[
        {"model_name": "marengo3.0", "model_options": ["visual"]}]).id


def store_of(topology, collection: str) -> SceneStore:
    return SceneStore(StoreConfig(path=str(topology["home"] / "qdrant"), collection=collection))


def raw_task(topology, task_id: str) -> dict:
    server = topology["server"]
    return httpx.get(f"{server.base_url}/tasks/{task_id}", headers={"x-api-key": server.key}).json()


def test_an_upload_lands_in_the_bucket_and_the_stream_makes_it_searchable(topology, index_id, tmp_path):
    client, bucket = topology["client"], topology["bucket"]
    with open(media(SLIDES), "rb") as f:
        task = client.tasks.create(index_id=index_id, video_file=f, user_metadata=json.dumps({"topic": "slides"}))

    # The bytes are in the bucket, under the index and the task, whole.
    blob = bucket.get_blob(f"{PREFIX}/{index_id}/{task.id}/techslides_small.mp4")
    assert blob is not None and blob.download_as_bytes() == media(SLIDES).read_bytes()
    asset_id = asset_id_for_object(bucket.name, blob.name, blob.generation)

    done = wait_for_task(client, task.id, timeout_s=180)
    assert done.status == "ready", raw_task(topology, task.id)
    assert done.system_metadata.duration == pytest.approx(5.5, abs=0.2)
    assert (done.system_metadata.width, done.system_metadata.height) == (560, 320)

    # Indexed by the stream into the index's own collection, and only there.
    video = client.indexes.indexed_assets.retrieve(index_id, task.video_id)
    assert video.asset_id == asset_id and video.status == "ready"
    status = store_of(topology, f"scenes-{index_id}").get_status(asset_id)
    assert status.status is AssetStatus.INDEXED and status.generation == str(blob.generation)
    assert store_of(topology, "scenes").get_status(asset_id) is None

    found = client.search.create(index_id=index_id, query_text="slides", search_options=["visual"],
                                 include_user_metadata=True)
    assert found.data and {c.video_id for c in found.data} == {task.video_id}
    assert found.data[0].user_metadata == {"topic": "slides"}

    # Playback streams from the bucket, in ranges; thumbnails too come from the bucket.
    url = video.hls.video_url
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == media(SLIDES).read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{media(SLIDES).stat().st_size}"
    assert httpx.get(url, headers={"Range": "bytes=99999999-"}).status_code == 416
    scenes = httpx.get(f"{topology['server'].base_url}/indexes/{index_id}/indexed-assets/{task.video_id}",
                       params={"scenes": "true"}, headers={"x-api-key": topology["server"].key}).json()["scenes"]
    assert scenes and all(s["thumbnail_url"] for s in scenes)
    thumbnail = httpx.get(scenes[0]["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"  # a JPEG
    assert bucket.get_blob(f"{PREFIX}/.thumbnails/{asset_id}/00000.jpg").download_as_bytes() == thumbnail.content


def test_a_video_that_does_not_decode_ends_failed_with_the_reason(topology, index_id, tmp_path):
    client = topology["client"]
    data = media(SLIDES).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) // 3])  # an MP4 head, but the moov atom is at the end: nothing decodes
    with open(cut, "rb") as f:
        task = client.tasks.create(index_id=index_id, video_file=f)
    done = wait_for_task(client, task.id, timeout_s=180)
    assert done.status == "failed"
    error = raw_task(topology, task.id)["error"]
    assert error.startswith("[probe] ") and "Invalid data" in error, error  # the stage it failed in, then why


def test_a_file_that_is_not_media_or_a_url_that_does_not_answer_never_reaches_the_bucket(topology, index_id, tmp_path):
    client, bucket = topology["client"], topology["bucket"]
    text = tmp_path / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 50)
    with pytest.raises(BadRequestError) as refused:
        with open(text, "rb") as f:
            client.tasks.create(index_id=index_id, video_file=f)
    assert refused.value.body["code"] == "video_file_invalid" and "not a video" in refused.value.body["message"]
    with pytest.raises(BadRequestError) as unreachable:  # nothing listens on port 9
        client.tasks.create(index_id=index_id, video_url="http://127.0.0.1:9/clip.mp4")
    assert "could not be read" in unreachable.value.body["message"]
    assert not [b.name for b in bucket.list_blobs(prefix=PREFIX) if b.name.endswith(("notes.mp4", "clip.mp4"))]


def test_an_asset_is_indexed_from_a_copy_in_the_index_folder_and_deleting_removes_the_object(topology, index_id):
    client, bucket = topology["client"], topology["bucket"]
    with open(media(SHORT), "rb") as f:
        asset = client.assets.create(method="direct", file=f)
    # Kept where the stream does not look (a hidden folder) until it is put in an index.
    kept = bucket.get_blob(f"{PREFIX}/.assets/{asset.id}/imageio_realshort.mp4")
    assert kept is not None and kept.size == media(SHORT).stat().st_size
    [ignored] = topology["stream"].wait_for(outcome_of(f"gs://{bucket.name}/{kept.name}", "ignored"))
    assert "hidden" in ignored["detail"]

    made = client.indexes.indexed_assets.create(index_id, asset_id=asset.id)
    done = wait_for_task(client, made.id, timeout_s=180)
    assert done.status == "ready", raw_task(topology, made.id)
    copy = bucket.get_blob(f"{PREFIX}/{index_id}/{made.id}/imageio_realshort.mp4")
    assert copy is not None
    stream_asset_id = asset_id_for_object(bucket.name, copy.name, copy.generation)
    assert client.indexes.indexed_assets.retrieve(index_id, made.id).asset_id == stream_asset_id

    client.indexes.indexed_assets.delete(index_id, made.id)
    assert bucket.get_blob(copy.name) is None
    assert store_of(topology, f"scenes-{index_id}").get_status(stream_asset_id).status is AssetStatus.DELETED
    found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"])
    assert made.id not in {c.video_id for c in found.data}


def test_deleting_an_index_deletes_its_objects(topology):
    client, bucket = topology["client"], topology["bucket"]
    scratch = client.indexes.create(index_name="gcs-scratch", models=[
        {"model_name": "marengo3.0", "model_options": ["visual"]}]).id
    with open(media(SHORT), "rb") as f:
        task = client.tasks.create(index_id=scratch, video_file=f)
    assert wait_for_task(client, task.id, timeout_s=180).status == "ready"
    assert list(bucket.list_blobs(prefix=f"{PREFIX}/{scratch}/"))
    client.indexes.delete(scratch)
    assert not list(bucket.list_blobs(prefix=f"{PREFIX}/{scratch}/"))


def test_a_bucket_that_cannot_take_uploads_is_a_503_with_the_reason(bucket_events):
    missing = BucketMediaRoot(BucketRoot.parse("gs://no-such-bucket-here/api"))
    with pytest.raises(ApiError) as refused, open(media(SHORT), "rb") as f:
        missing.save_video(f, "v.mp4", index_id="i", task_id="t", video_id="v", max_bytes=1 << 30)
    assert refused.value.status == 503 and "gs://no-such-bucket-here/api" in refused.value.message


def test_a_multipart_upload_is_joined_into_the_bucket(topology, tmp_path):
    client, bucket = topology["client"], topology["bucket"]
    copy = tmp_path / "imageio_realshort.mp4"  # the SDK's helper writes its chunk files beside the file
    shutil.copyfile(media(SHORT), copy)
    result = client.multipart_upload.upload_file(copy)
    asset = client.assets.retrieve(result.asset_id)
    deadline = time.monotonic() + 60
    while asset.status == "processing":
        assert time.monotonic() < deadline, "the upload was not joined"
        time.sleep(0.2)
        asset = client.assets.retrieve(result.asset_id)
    assert asset.status == "ready"
    joined = bucket.get_blob(f"{PREFIX}/.assets/{asset.id}/imageio_realshort.mp4")
    assert joined is not None and joined.download_as_bytes() == media(SHORT).read_bytes()
