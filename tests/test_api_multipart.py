"""Resumable multipart uploads (`/v1.3/assets/multipart-uploads`) with the official SDK
(twelvelabs==1.3.6, `client.multipart_upload`) against `sceneline serve` in its own process, on real
videos from ../shared/media: chunks PUT to the presigned URLs the server hands out (no API key, as
with S3), reported, joined into an asset that is indexed and searched like a direct upload; an
upload resumed after a dropped connection and a `kill -9` of the server; the SDK's own
`upload_file` helper unchanged; bad input refused with reasons."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from api_server import fast_model_flags, running, start, stop, wait_for_task
from conftest import media
from fastapi.testclient import TestClient
from twelvelabs.errors import BadRequestError, NotFoundError

from sceneline.pipelines.server import ServerSettings, create_app
from sceneline.pipelines.server.deps import sign
from sceneline.pipelines.server.records import PROCESSING, AssetRow, UploadRow
from sceneline.transforms.store.scene_store import StoreConfig

pytestmark = pytest.mark.slow

CHUNK = 16 * 1024  # the test server's chunk size: the small test videos still come in several chunks
LIMIT = 4_000_000  # the test server's --max-upload-bytes
SHORT = "videos/imageio_realshort.mp4"  # 96,822 bytes: 6 chunks
SLIDES = "videos/techslides_small.mp4"  # 383,631 bytes: 24 chunks, more than the 10 URLs a session starts with


def server_flags(tiny_clip) -> list[str]:
    return fast_model_flags(tiny_clip.spec) + ["--multipart-chunk-bytes", str(CHUNK),
                                               "--max-upload-bytes", str(LIMIT)]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip):
    home = tmp_path_factory.mktemp("multipart") / "home"
    with running(home, server_flags(tiny_clip)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def index_id(client):
    return client.indexes.create(index_name="multipart", models=[
        {"model_name": "marengo3.0", "model_options": ["visual"]}]).id


def chunk_of(data: bytes, n: int, size: int = CHUNK) -> bytes:
    return data[(n - 1) * size:n * size]


def put(url: str, body: bytes) -> httpx.Response:
    """A chunk PUT as the SDK's helper sends it: the URL alone, no API key."""
    return httpx.put(url, content=body, headers={"content-type": "application/octet-stream"})


def send_chunks(urls, data: bytes) -> list[dict]:
    """PUT each chunk to its URL; the reports (CompletedChunk) for them."""
    reports = []
    for u in urls:
        body = chunk_of(data, u.chunk_index)
        answer = put(u.url, body)
        assert answer.status_code == 200, answer.text
        etag = answer.headers["etag"].strip('"')
        assert etag == hashlib.md5(body).hexdigest()  # S3's ETag: what the client can check
        reports.append({"chunk_index": u.chunk_index, "proof": etag, "proof_type": "etag", "chunk_size": len(body)})
    return reports


def raw(server, method: str, path: str, **kwargs) -> httpx.Response:
    """The same route without the SDK, for fields its pager hides (status, uploaded_size)."""
    return httpx.request(method, f"{server.base_url}{path}", headers={"x-api-key": server.key}, **kwargs)


def wait_for_asset(client, asset_id: str, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while True:
        asset = client.assets.retrieve(asset_id)
        if asset.status != "processing":
            return asset
        assert time.monotonic() < deadline, f"asset {asset_id} still processing after {timeout_s} s"
        time.sleep(0.2)


def wait_until(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} after {timeout_s} s"
        time.sleep(0.1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_video_sent_in_chunks_is_indexed_and_searched_like_a_direct_upload(server, client, index_id):
    data = media(SHORT).read_bytes()
    session = client.multipart_upload.create(filename="realshort.mp4", type="video", total_size=len(data),
                                             user_metadata={"source": "multipart"})
    assert (session.chunk_size, session.total_chunks) == (CHUNK, 6)
    assert [u.chunk_index for u in session.upload_urls] == [1, 2, 3, 4, 5, 6]
    assert session.upload_id in [u.upload_id for u in client.multipart_upload.list_incomplete_uploads()]
    assert client.assets.retrieve(session.asset_id).status == "processing"  # reserved, not yet usable

    reports = send_chunks(session.upload_urls, data)
    first = client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=reports[:4])
    assert (first.processed_chunks, first.duplicate_chunks, first.total_completed, first.url) == (4, 0, 4, None)
    # Reported again with the rest: the repeats are duplicates, and the last report completes the upload.
    last = client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=reports)
    assert (last.processed_chunks, last.duplicate_chunks, last.total_completed) == (2, 4, 6)
    assert last.url.endswith(f"/assets/{session.asset_id}")

    # The SDK's pager walks the chunk list page by page.
    chunks = list(client.multipart_upload.get_status(session.upload_id, page_limit=4))
    assert [(c.index, c.status) for c in chunks] == [(n, "completed") for n in range(1, 7)]
    assert all(c.uploaded_at is not None for c in chunks)
    status = raw(server, "GET", f"/assets/multipart-uploads/{session.upload_id}").json()
    assert (status["status"], status["uploaded_size"], status["total_size"]) == ("completed", len(data), len(data))
    assert session.upload_id not in [u.upload_id for u in client.multipart_upload.list_incomplete_uploads()]

    asset = wait_for_asset(client, session.asset_id)
    assert (asset.status, asset.size, asset.filename) == ("ready", len(data), "realshort.mp4")
    assert asset.method == "multipart" and asset.user_metadata == {"source": "multipart"}
    assert sha256(server.home / "media" / "assets" / asset.id / "realshort.mp4") == sha256(media(SHORT))
    chunks_folder = server.home / "media" / "multipart" / session.upload_id
    wait_until(lambda: not chunks_folder.exists(), "the joined chunks are still on disk")

    made = client.indexes.indexed_assets.create(index_id, asset_id=asset.id, user_metadata={"via": "chunks"})
    assert wait_for_task(client, made.id).status == "ready"
    video = client.indexes.indexed_assets.retrieve(index_id, made.id)
    assert video.system_metadata.size == len(data) and (video.system_metadata.width, video.system_metadata.height) \
        == (320, 240)
    assert video.user_metadata == {"source": "multipart", "via": "chunks"}
    found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"],
                                 filter=json.dumps({"via": "chunks"}))
    assert found.data and {c.video_id for c in found.data} == {made.id}


def test_the_sdk_upload_helper_works_unchanged(server, client, tmp_path):
    # The helper splits the file into chunk files beside it: give it a copy in a folder of its own.
    copy = tmp_path / "techslides_small.mp4"
    shutil.copyfile(media(SLIDES), copy)
    progress = []
    result = client.multipart_upload.upload_file(copy, batch_size=5, progress_callback=progress.append)
    # 24 chunks: the helper asked for URLs beyond the session's first 10, and reported in batches.
    assert [p.completed_chunks for p in progress] == [5, 10, 15, 20, 24]
    assert result.asset_url.endswith(f"/assets/{result.asset_id}")
    asset = wait_for_asset(client, result.asset_id)
    assert asset.status == "ready" and asset.size == copy.stat().st_size
    assert sha256(server.home / "media" / "assets" / asset.id / copy.name) == sha256(copy)


def drop_mid_chunk(url: str, body: bytes) -> None:
    """Send the headers and half of a chunk's bytes, then hang up (a dropped connection)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
                  + body[:len(body) // 2])


def chunk_states(client, upload_id: str) -> dict[int, str]:
    return {c.index: c.status for c in client.multipart_upload.get_status(upload_id, page_limit=50)}


def test_an_upload_resumes_after_a_dropped_connection_and_a_server_restart(tmp_path, tiny_clip):
    data = media(SLIDES).read_bytes()
    home = tmp_path / "home"
    server = start(home, server_flags(tiny_clip))
    try:
        client = server.client()
        session = client.multipart_upload.create(filename="slides.mp4", type="video", total_size=len(data))
        assert (session.total_chunks, len(session.upload_urls)) == (24, 10)
        reports = send_chunks(session.upload_urls, data)  # chunks 1-10 arrive...
        client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=reports[:6])  # 1-6 reported
        more = client.multipart_upload.get_additional_presigned_urls(session.upload_id, start=11, count=1)
        drop_mid_chunk(more.upload_urls[0].url, chunk_of(data, 11))
        # The server notices the dropped connection on its own time.
        wait_until(lambda: chunk_states(client, session.upload_id)[11] == "failed",
                   "the dropped chunk is not marked failed")
        old_url, old_base = session.upload_urls[7].url, server.url
    finally:
        stop(server, hard=True)  # kill -9: no shutdown code runs
    assert server.process.returncode == -9

    server = start(home, server_flags(tiny_clip))
    try:
        client = server.client()
        refused = put(old_url.replace(old_base, server.url), chunk_of(data, 8))  # signed by the previous process
        assert refused.status_code == 403 and refused.json()["code"] == "signature_invalid"
        assert session.upload_id in [u.upload_id for u in client.multipart_upload.list_incomplete_uploads()]
        chunks = list(client.multipart_upload.get_status(session.upload_id, page_limit=50))
        states = {c.index: c.status for c in chunks}
        assert [n for n, s in states.items() if s == "completed"] == [1, 2, 3, 4, 5, 6]
        assert states[11] == "failed" and "dropped" in chunks[10].error
        # Chunks 7-10 arrived but were never reported: their proofs are on record, no need to send them again.
        received = {c.index: c.proof for c in chunks if c.status == "pending" and getattr(c, "proof", None)}
        assert sorted(received) == [7, 8, 9, 10]
        status = raw(server, "GET", f"/assets/multipart-uploads/{session.upload_id}").json()
        assert (status["status"], status["uploaded_size"], status["chunks_failed"]) == ("active", 10 * CHUNK, 1)

        missing = [n for n, s in states.items() if s != "completed" and n not in received]
        assert missing == list(range(11, 25))
        fresh = client.multipart_upload.get_additional_presigned_urls(session.upload_id, start=11, count=14)
        resent = send_chunks(fresh.upload_urls, data)  # only the missing chunks are sent again
        kept = [{"chunk_index": n, "proof": proof, "proof_type": "etag", "chunk_size": CHUNK}
                for n, proof in received.items()]
        done = client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=kept + resent)
        assert (done.processed_chunks, done.total_completed) == (18, 24) and done.url
        asset = wait_for_asset(client, session.asset_id)
        assert asset.status == "ready"
        assert sha256(home / "media" / "assets" / session.asset_id / "slides.mp4") == sha256(media(SLIDES))
    finally:
        stop(server)


def test_bad_requests_are_4xx_with_reasons(server, client):
    with pytest.raises(BadRequestError) as too_big:
        client.multipart_upload.create(filename="big.mp4", type="video", total_size=LIMIT + 1)
    assert str(LIMIT) in too_big.value.body["message"]
    for fields in ({"type": "document", "total_size": 10}, {"type": "video", "total_size": 0}):
        with pytest.raises(BadRequestError) as wrong:
            client.multipart_upload.create(filename="a.mp4", **fields)
        assert wrong.value.body["code"] == "parameter_invalid" and wrong.value.body["message"]
    with pytest.raises(BadRequestError) as climbing:
        client.multipart_upload.create(filename="../../etc/evil.mp4", type="video", total_size=10)
    assert ".." in climbing.value.body["message"]

    unknown = "0" * 24
    for call in (lambda: client.multipart_upload.get_status(unknown),
                 lambda: client.multipart_upload.report_chunk_batch(unknown, completed_chunks=[
                     {"chunk_index": 1, "proof": "x", "proof_type": "etag", "chunk_size": 1}]),
                 lambda: client.multipart_upload.get_additional_presigned_urls(unknown, start=1, count=1)):
        with pytest.raises(NotFoundError) as missing:
            call()
        assert missing.value.body["code"] == "upload_not_exists"

    data = media(SHORT).read_bytes()
    session = client.multipart_upload.create(filename="short.mp4", type="video", total_size=len(data))
    upload_id, urls = session.upload_id, {u.chunk_index: u.url for u in session.upload_urls}
    last_size = len(data) - 5 * CHUNK

    def report(**chunk):
        return client.multipart_upload.report_chunk_batch(upload_id, completed_chunks=[
            {"chunk_index": 1, "proof": "0" * 32, "proof_type": "etag", "chunk_size": CHUNK, **chunk}])

    for chunk, reason in (({"chunk_index": 7}, "not a chunk"), ({"chunk_index": 0}, "not a chunk"),
                          ({"chunk_index": 1}, "not been received"),
                          ({"chunk_index": 6, "chunk_size": last_size}, "not been received"),
                          ({"chunk_index": 6}, f"has {last_size} bytes")):
        with pytest.raises(BadRequestError) as refused:
            report(**chunk)
        assert reason in refused.value.body["message"], (chunk, refused.value.body)
    for first, count in ((0, 1), (5, 3), (1, 51)):
        with pytest.raises(BadRequestError):
            client.multipart_upload.get_additional_presigned_urls(upload_id, start=first, count=count)

    # A chunk of the wrong size is refused and marked failed; the right bytes then go in, as often as sent.
    for body in (chunk_of(data, 1)[:-1], chunk_of(data, 1) + b"x"):
        short = put(urls[1], body)
        assert short.status_code == 400 and "16384" in short.json()["message"]
    failed = list(client.multipart_upload.get_status(upload_id))[0]
    assert failed.status == "failed" and failed.error
    etags = {put(urls[1], chunk_of(data, 1)).headers["etag"] for _ in range(2)}
    assert len(etags) == 1 and list(client.multipart_upload.get_status(upload_id))[0].status == "pending"
    with pytest.raises(BadRequestError) as forged:
        report(chunk_index=1)  # a proof that is not the chunk's ETag
    assert "proof" in forged.value.body["message"]
    assert report(chunk_index=1, proof=etags.pop()).processed_chunks == 1
    changed = put(urls[1], chunk_of(data, 2))  # a reported chunk keeps its bytes
    assert changed.status_code == 409

    # Presigned URLs are checked: signature, expiry, and the very chunk they were signed for.
    path, query = urls[2].split("?")
    signature = query.split("sig=")[1]
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    expires = query.split("&")[0].split("=")[1]
    for url in (f"{path}?expires={expires}&sig={tampered}", f"{path}?expires={int(expires) + 60}&sig={signature}",
                path, urls[2].replace("/chunks/2?", "/chunks/3?"), f"{path}?{query}".replace(upload_id, "1" * 24)):
        answer = put(url, chunk_of(data, 2))
        assert answer.status_code == 403, url
        assert set(answer.json()) == {"code", "message"} and answer.json()["message"]
    assert list(client.multipart_upload.get_status(upload_id))[1].status == "pending"  # nothing got through


def test_a_file_that_is_not_media_ends_the_asset_failed_with_a_reason(client, index_id):
    data = b"not a video at all\n" * 1200  # 22,800 bytes: 2 chunks
    session = client.multipart_upload.create(filename="notes.mp4", type="video", total_size=len(data))
    done = client.multipart_upload.report_chunk_batch(session.upload_id,
                                                      completed_chunks=send_chunks(session.upload_urls, data))
    assert done.url
    asset = wait_for_asset(client, session.asset_id)
    assert asset.status == "failed" and "not a video" in asset.error.message
    with pytest.raises(BadRequestError) as not_ready:
        client.indexes.indexed_assets.create(index_id, asset_id=asset.id)
    assert "failed" in not_ready.value.body["message"]


def test_an_expired_chunk_url_is_refused(tmp_path):
    """In-process, where the test knows the signing secret and can sign a URL that expired."""
    settings = ServerSettings(home=tmp_path, store=StoreConfig(path=":memory:", collection="t"),
                              multipart_chunk_bytes=CHUNK)
    with TestClient(create_app(settings)) as api:
        session = api.post("/v1.3/assets/multipart-uploads",
                           json={"filename": "a.mp4", "type": "video", "total_size": 3 * CHUNK}).json()
        path = f"/v1.3/assets/multipart-uploads/{session['upload_id']}/chunks/1"
        secret, past = api.app.state.settings.signing_secret, int(time.time()) - 1
        expired = api.put(f"{path}?expires={past}&sig={sign(secret, path, past)}", content=b"\0" * CHUNK)
        assert expired.status_code == 403 and expired.json()["code"] == "url_expired"
        live = int(time.time()) + 60
        assert api.put(f"{path}?expires={live}&sig={sign(secret, path, live)}",
                       content=b"\0" * CHUNK).status_code == 200


def test_a_session_past_its_day_expires_and_gives_its_disk_back(tmp_path):
    """In-process, with a session recorded as created more than 24 hours ago."""
    settings = ServerSettings(home=tmp_path, store=StoreConfig(path=":memory:", collection="t"),
                              multipart_chunk_bytes=CHUNK)
    app = create_app(settings)
    records = app.state.records
    records.add_asset(AssetRow(id="a" * 24, method="multipart", status=PROCESSING, filename="old.mp4",
                               path=str(settings.media_root / "assets" / ("a" * 24) / "old.mp4"), sha256="", size=0))
    records.add_upload(UploadRow(id="b" * 24, asset_id="a" * 24, filename="old.mp4", type="video",
                                 total_size=2 * CHUNK, chunk_size=CHUNK, total_chunks=2,
                                 expires_at="2020-01-01T00:00:00Z"))
    chunks = settings.multipart_root / ("b" * 24)
    chunks.mkdir(parents=True)
    (chunks / "1").write_bytes(b"\0" * CHUNK)
    with TestClient(app) as api:  # the server's start settles sessions that expired while it was down
        assert not chunks.exists()
        status = api.get(f"/v1.3/assets/multipart-uploads/{'b' * 24}").json()
        assert status["status"] == "expired"
        assert api.get("/v1.3/assets/multipart-uploads").json()["data"] == []
        asset = api.get(f"/v1.3/assets/{'a' * 24}").json()
        assert asset["status"] == "failed" and "expired" in asset["error"]["message"]
        more = api.post(f"/v1.3/assets/multipart-uploads/{'b' * 24}/presigned-urls", json={"start": 1, "count": 1})
        assert more.status_code == 400 and more.json()["code"] == "upload_expired"


def test_a_completed_upload_left_unjoined_is_joined_when_the_server_starts(tmp_path):
    """In-process: a server stopped between the last report and the end of the join (chunks on
    disk, the session completed, the asset still processing) finishes the asset on its next start."""
    data = media(SHORT).read_bytes()
    settings = ServerSettings(home=tmp_path, store=StoreConfig(path=":memory:", collection="t"),
                              multipart_chunk_bytes=CHUNK)
    app = create_app(settings)
    records, asset_id, upload_id = app.state.records, "c" * 24, "d" * 24
    records.add_asset(AssetRow(id=asset_id, method="multipart", status=PROCESSING, filename="short.mp4",
                               path=str(settings.media_root / "assets" / asset_id / "short.mp4"), sha256="", size=0))
    records.add_upload(UploadRow(id=upload_id, asset_id=asset_id, filename="short.mp4", type="video",
                                 total_size=len(data), chunk_size=CHUNK, total_chunks=6, status="completed",
                                 expires_at="2999-01-01T00:00:00Z"))
    chunks = settings.multipart_root / upload_id
    chunks.mkdir(parents=True)
    for n in range(1, 7):
        (chunks / str(n)).write_bytes(chunk_of(data, n))
    with TestClient(app) as api:
        wait_until(lambda: api.get(f"/v1.3/assets/{asset_id}").json()["status"] != "processing",
                   "the upload is not joined")
        asset = api.get(f"/v1.3/assets/{asset_id}").json()
        assert asset["status"] == "ready" and asset["size"] == len(data)
        assert sha256(settings.media_root / "assets" / asset_id / "short.mp4") == sha256(media(SHORT))
        wait_until(lambda: not chunks.exists(), "the joined chunks are still on disk")
