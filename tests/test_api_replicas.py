"""Two replicas of `sceneline serve` over the same records in Qdrant (issue 19's stateless server),
with the official TwelveLabs SDK as the client: an index created and a video uploaded through
replica A are listed, retrieved, searched and played through replica B, and a presigned URL A hands
out works on B.

Both apps run in this process, each with its own home folder (scratch only), sharing the media
root, the index store and the records: under uvicorn (real HTTP on 127.0.0.1) for the SDK, in-process
ASGI for a multipart upload into a bucket (fake-gcs-server) whose chunks reach both replicas. The records'
Qdrant is qdrant-client's local mode, standing in for a Qdrant server since no server binary can be
had here (tests/test_records.py says more). A local media folder is indexed by the replica that took
the upload; in production the media root is a bucket, indexed by the stream pipeline.
"""

from __future__ import annotations

import time

import httpx
import pytest
from api_server import fast_index_argv, serving, wait_for_task
from conftest import media
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient
from twelvelabs import TwelveLabs

from sceneline.pipelines.server import ServerSettings, create_app
from sceneline.pipelines.server.auth import hash_key, new_salt
from sceneline.pipelines.server.records_qdrant import QdrantRecords
from sceneline.transforms.store.scene_store import StoreConfig

pytestmark = pytest.mark.slow

KEY = "replica-key"
SLIDES = "videos/techslides_small.mp4"
SHORT = "videos/imageio_realshort.mp4"


def replica_settings(home, shared, tiny_clip) -> ServerSettings:
    salt = new_salt()  # each replica hashes the API key with its own salt: the hashes never leave it
    return ServerSettings(home=home, store=StoreConfig(path=str(shared / "qdrant"), collection="scenes"),
                          index_argv=fast_index_argv(tiny_clip.spec), api_key_hashes=(hash_key(KEY, salt),),
                          key_salt=salt, index_workers=1, offline=True, media_location=str(shared / "media"))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, tiny_clip):
    shared = tmp_path_factory.mktemp("replicas")
    records_client = QdrantClient(":memory:")  # the records' Qdrant server
    apps = [create_app(replica_settings(shared / f"home-{name}", shared, tiny_clip),
                       records=QdrantRecords(records_client, "scenes")) for name in ("a", "b")]
    with serving(apps[0]) as url_a, serving(apps[1]) as url_b:
        yield [(TwelveLabs(api_key=KEY, base_url=f"{url}/v1.3"), url) for url in (url_a, url_b)]


def test_what_replica_a_indexed_replica_b_lists_retrieves_and_searches(replicas):
    (a, url_a), (b, url_b) = replicas
    index = a.indexes.create(index_name="replicated", models=[{"model_name": "marengo3.0",
                                                               "model_options": ["visual"]}])
    assert b.indexes.retrieve(index.id).index_name == "replicated"
    assert [i.id for i in b.indexes.list()] == [index.id]
    with open(media(SLIDES), "rb") as f:
        task = a.tasks.create(index_id=index.id, video_file=f, user_metadata='{"topic": "slides"}')
    with open(media(SHORT), "rb") as f:
        other = a.tasks.create(index_id=index.id, video_file=f)
    done = wait_for_task(b, task.id)  # followed through the replica that did not take the upload
    assert done.status == "ready" and wait_for_task(b, other.id).status == "ready"

    video = b.indexes.indexed_assets.retrieve(index.id, done.video_id)
    assert video.system_metadata.filename == "techslides_small.mp4" and video.user_metadata == {"topic": "slides"}
    assert {t.id for t in b.tasks.list(index_id=index.id, page_limit=1)} == {task.id, other.id}
    assert b.indexes.retrieve(index.id).video_count == 2
    found = b.search.create(index_id=index.id, query_text="a slide", search_options=["visual"], page_limit=1,
                            group_by="video")
    assert len(found.data) == 1
    # A page token one replica handed out, the other answers.
    second = a.search.retrieve(found.page_info.next_page_token)
    assert {found.data[0].id, second.data[0].id} == {done.video_id, wait_for_task(a, other.id).video_id}

    # A presigned URL signed by one replica plays on the other (one signing secret in the records).
    played_on_a = a.indexes.indexed_assets.retrieve(index.id, done.video_id)
    signed = played_on_a.hls.video_url
    assert signed.startswith(url_a) and "sig=" in signed
    played = httpx.get(signed.replace(url_a, url_b), headers={"range": "bytes=0-99"})
    assert played.status_code == 206 and len(played.content) == 100
    assert played.content == media(SLIDES).read_bytes()[:100]


CHUNK = 32 * 1024  # imageio_realshort.mp4 (96,822 bytes) in 3 chunks: the last one shorter


def test_a_multipart_upload_whose_chunks_reach_both_replicas_is_joined_in_the_bucket(bucket_events, tmp_path):
    """Bucket mode (fake-gcs-server): chunks are kept in the bucket, not on the replica that took
    them, so a session created on A, fed through A and B and completed on B gives the whole file;
    a chunk reported through one replica cannot be replaced through the other."""
    bucket = bucket_events.create_bucket("replicas")
    records_client = QdrantClient(":memory:")
    apps = [create_app(ServerSettings(home=tmp_path / f"home-{name}", store=StoreConfig(path=":memory:",
                                                                                        collection="scenes"),
                                      multipart_chunk_bytes=CHUNK, media_location=f"gs://{bucket.name}/up"),
                       records=QdrantRecords(records_client, "scenes")) for name in ("a", "b")]
    data = media(SHORT).read_bytes()
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        session = a.post("/v1.3/assets/multipart-uploads",
                         json={"filename": "short.mp4", "type": "video", "total_size": len(data)}).json()
        urls = {u["chunk_index"]: u["url"].removeprefix(str(a.base_url)) for u in session["upload_urls"]}
        assert sorted(urls) == [1, 2, 3]
        etags = {}
        for n, replica in ((1, a), (2, b), (3, a)):
            sent = replica.put(urls[n], content=data[(n - 1) * CHUNK:n * CHUNK])
            assert sent.status_code == 200, sent.text
            etags[n] = sent.headers["etag"].strip('"')
        staged = [blob.name for blob in bucket.list_blobs(prefix="up/.multipart/")]
        assert sorted(staged) == [f"up/.multipart/{session['upload_id']}/{n}.{etags[n]}" for n in (1, 2, 3)]

        def report(replica, *chunks):
            return replica.post(f"/v1.3/assets/multipart-uploads/{session['upload_id']}", json={"completed_chunks": [
                {"chunk_index": n, "proof": etags[n], "proof_type": "etag",
                 "chunk_size": min(CHUNK, len(data) - (n - 1) * CHUNK)} for n in chunks]})

        assert report(a, 1).json()["processed_chunks"] == 1
        replaced = b.put(urls[1], content=bytes(CHUNK))  # other bytes for a reported chunk, through B
        assert replaced.status_code == 409 and replaced.json()["code"] == "chunk_reported"
        assert report(b, 2, 3).json()["total_completed"] == 3

        deadline = time.monotonic() + 60
        while (asset := a.get(f"/v1.3/assets/{session['asset_id']}").json())["status"] == "processing":
            assert time.monotonic() < deadline, "the upload was not joined"
            time.sleep(0.1)
        assert asset["status"] == "ready" and asset["size"] == len(data)
        assert bucket.blob(f"up/.assets/{session['asset_id']}/short.mp4").download_as_bytes() == data
        assert list(bucket.list_blobs(prefix="up/.multipart/")) == []  # the chunks are removed once joined
    left = [p for home in ("home-a", "home-b") for p in (tmp_path / home).rglob("*") if p.is_file()]
    assert not [p for p in left if "multipart" in p.parts], left  # no chunk stayed on a replica's disk
