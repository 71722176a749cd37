"""The server's records, the same tests on both homes: sqlite (one server) and Qdrant (replicas).

qdrant-client's local mode (an in-memory Qdrant inside the test process) stands in for a Qdrant
server, since no server binary can be had here; it speaks the same client API, the same filters and
conditional writes (`records_qdrant.py` serialises its calls, as a server's shard applies writes one
at a time).

Two `QdrantRecords` over one client are two replicas of a server: what one writes the other reads,
and the compare-and-set writes (a multipart upload completed once, a reported chunk never replaced)
hold between them.
"""

from __future__ import annotations

import threading
import time

import pytest
from qdrant_client import QdrantClient

from sceneline.pipelines.analyze_routes import AnalyzeBody, TaskBook
from sceneline.pipelines.server.records import (
    ACTIVE,
    COMPLETED,
    EXPIRED,
    FAILED,
    PENDING,
    PROCESSING,
    READY,
    RECEIVED,
    AssetRow,
    Records,
    UploadRow,
    VideoRow,
    new_id,
)
from sceneline.pipelines.server.records_open import move_in_sqlite_records
from sceneline.pipelines.server.records_qdrant import QdrantRecords, records_collection
from sceneline.pipelines.server.records_sqlite import SqliteRecords

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual"]}]


@pytest.fixture(params=["sqlite", "qdrant"])
def records(request, tmp_path):
    made = SqliteRecords(tmp_path) if request.param == "sqlite" else QdrantRecords(QdrantClient(":memory:"), "t")
    yield made
    made.close()


@pytest.fixture
def replicas() -> tuple[QdrantRecords, QdrantRecords]:
    """Two servers' records over one Qdrant."""
    client = QdrantClient(":memory:")
    return QdrantRecords(client, "shared"), QdrantRecords(client, "shared")


def _video(records: Records, index_id: str, asset_id: str | None, status: str, sha256: str | None = None) -> VideoRow:
    row = VideoRow(id=new_id(), task_id=new_id(), index_id=index_id, status=status, filename=f"{asset_id}.mp4",
                   path=f"/media/{asset_id}.mp4", asset_id=asset_id, size=1, sha256=sha256)
    return records.add_video(row)


def _upload(records: Records, chunks: int = 2, status: str = ACTIVE) -> UploadRow:
    return records.add_upload(UploadRow(id=new_id(), asset_id=new_id(), filename="a.mp4", type="video",
                                        total_size=chunks * 10, chunk_size=10, total_chunks=chunks, status=status,
                                        expires_at="2999-01-01T00:00:00Z"))


def test_searchable_videos_follow_every_change_of_a_video(records):
    index = records.add_index("i", MODELS, [])
    ready = _video(records, index.id, "a1", READY)
    pending = _video(records, index.id, "a2", PENDING)

    rows, every_asset = records.searchable(index.id)
    assert [r.id for r in rows] == [ready.id] and every_asset == {"a1", "a2"}
    records.add_search_page({"index_id": index.id}, 2)  # not a change of any video: read from memory
    assert records.searchable(index.id)[0] is rows

    records.update_video(pending.id, status=READY)
    assert {r.id for r in records.searchable(index.id)[0]} == {ready.id, pending.id}
    records.delete_video(ready.id)
    rows, every_asset = records.searchable(index.id)
    # A deleted video is never admitted, but its asset still counts as one the index held.
    assert [r.id for r in rows] == [pending.id] and every_asset == {"a1", "a2"}


def test_indexes_are_found_by_id_and_name_renamed_and_deleted_with_their_videos(records):
    first = records.add_index("first", MODELS, ["thumbnail"])
    second = records.add_index("second", MODELS, [])
    assert records.index(first.id) == first and records.index_named("second") == second
    assert records.index(first.id).model_options() == {"visual"} and records.index(first.id).addons == ["thumbnail"]
    records.rename_index(first.id, "renamed")
    assert records.index(first.id).name == "renamed" and records.index_named("first") is None
    video = _video(records, first.id, "a1", READY)
    records.delete_index(first.id)
    assert records.index(first.id) is None and records.index_named("renamed") is None
    assert [i.id for i in records.indexes()] == [second.id]
    assert records.video(video.id) is None and records.videos(first.id) == []
    assert records.index("0" * 24) is None


def test_lists_come_in_creation_order_then_by_id(records):
    """The SDK's pagers page by this order: a page boundary never skips or repeats a row."""
    made = [records.add_index(f"i{n}", MODELS, []) for n in range(5)]  # mostly within one second
    assert [i.id for i in records.indexes()] == [i.id for i in sorted(made, key=lambda r: (r.created_at, r.id))]
    videos = [_video(records, made[0].id, f"a{n}", READY) for n in range(5)]
    assert [v.id for v in records.videos(made[0].id)] == [v.id for v in sorted(videos, key=lambda r: (r.created_at,
                                                                                                      r.id))]
    assets = [records.add_asset(AssetRow(id=new_id(), method="direct", status=READY, filename="f.mp4", path="/f",
                                         sha256="s", size=1)) for _ in range(4)]
    newest_first = sorted(sorted(assets, key=lambda r: r.id), key=lambda r: r.created_at, reverse=True)
    assert [a.id for a in records.assets()] == [a.id for a in newest_first]


def test_videos_are_updated_filtered_and_found_by_task_and_content(records):
    index = records.add_index("i", MODELS, [])
    other = records.add_index("o", MODELS, [])
    ready = _video(records, index.id, "a1", READY, sha256="same")
    pending = _video(records, index.id, None, PENDING, sha256="same")
    _video(records, other.id, "a3", READY, sha256="same")
    assert records.task(pending.task_id).id == pending.id and records.task("nope") is None
    assert [v.id for v in records.videos(index.id, status=READY)] == [ready.id]
    assert [v.id for v in records.unfinished() if v.index_id == index.id] == [pending.id]
    assert records.ready_with_content(index.id, "same").id == ready.id
    assert records.ready_with_content(index.id, "other") is None

    records.update_video(pending.id, status=READY, asset_id="a1", system_metadata={"fps": 30.0},
                         user_metadata={"topic": "x"}, indexed_at="2026-01-01T00:00:00Z")
    got = records.video(pending.id)
    assert (got.status, got.asset_id, got.system_metadata, got.user_metadata) == (READY, "a1", {"fps": 30.0},
                                                                                  {"topic": "x"})
    assert records.live_users_of(index.id, "a1") == 2
    records.delete_video(ready.id)
    assert records.live_users_of(index.id, "a1") == 1 and records.task(ready.task_id) is None
    assert records.asset_ids_ever(index.id) == {"a1"}


def test_assets_keep_metadata_and_settle_once_when_their_file_is_whole(records):
    row = records.add_asset(AssetRow(id=new_id(), method="multipart", status=PROCESSING, filename="a.mp4",
                                     path="/media/assets/a.mp4", sha256="", size=0,
                                     user_metadata={"a": 1, "b": "x"}))
    records.set_asset_metadata(row.id, {"c": True})
    assert records.asset(row.id).user_metadata == {"c": True}  # replaced whole, not merged
    records.finish_asset(row.id, READY, path="gs://b/p/a.mp4", sha256="abc", size=5)
    got = records.asset(row.id)
    assert (got.status, got.path, got.sha256, got.size, got.error) == (READY, "gs://b/p/a.mp4", "abc", 5, None)
    records.finish_asset(row.id, FAILED, error="joined again, and failed")  # settled already: no change
    assert records.asset(row.id).status == READY and records.asset(row.id).error is None
    records.delete_asset(row.id)
    assert records.asset(row.id) is None and records.assets() == []


def test_an_upload_moves_from_a_status_only_once(records):
    upload = _upload(records)
    assert [u.id for u in records.uploads(ACTIVE)] == [upload.id]
    assert records.move_upload(upload.id, ACTIVE, COMPLETED) is True
    assert records.move_upload(upload.id, ACTIVE, COMPLETED) is False
    assert records.move_upload(upload.id, ACTIVE, EXPIRED) is False
    assert records.upload(upload.id).status == COMPLETED and records.uploads(ACTIVE) == []
    assert records.move_upload("f" * 24, ACTIVE, COMPLETED) is False  # no such upload


def test_a_reported_chunk_is_never_replaced(records):
    upload = _upload(records, chunks=3)
    records.chunk_failed(upload.id, 1, "dropped")
    assert records.chunk(upload.id, 1).status == FAILED and records.chunk(upload.id, 1).error == "dropped"
    records.chunk_received(upload.id, 1, 10, "etag-1")
    records.chunk_received(upload.id, 1, 10, "etag-1b")  # sent again before the report: replaces
    records.chunk_failed(upload.id, 1, "a later send broke")  # a good copy received earlier is kept
    assert records.chunk(upload.id, 1).status == RECEIVED and records.chunk(upload.id, 1).etag == "etag-1b"
    assert records.chunk_reported(upload.id, 1, "etag-1") is False  # not the bytes received
    assert records.chunk_reported(upload.id, 1, "etag-1b") is True
    assert records.chunk_reported(upload.id, 1, "etag-1b") is False  # a duplicate report
    records.chunk_received(upload.id, 1, 10, "etag-other")
    records.chunk_failed(upload.id, 1, "late")
    chunk = records.chunk(upload.id, 1)
    assert (chunk.status, chunk.etag, chunk.error) == (COMPLETED, "etag-1b", None) and chunk.reported_at
    records.chunk_received(upload.id, 3, 10, "etag-3")
    assert sorted(records.chunks(upload.id)) == [1, 3] and records.completed_chunks(upload.id) == 1
    assert records.chunk(upload.id, 2) is None


def test_search_pages_and_the_signing_secret_are_kept(records):
    token = records.add_search_page({"index_id": "i", "query_text": "a dog"}, 2)
    assert records.search_page(token) == ({"index_id": "i", "query_text": "a dog"}, 2)
    assert records.search_page("0" * 32) is None
    secret = records.signing_secret()
    assert len(secret) == 32 and records.signing_secret() == secret


def test_sqlite_records_survive_a_restart_but_its_presigned_urls_do_not(tmp_path):
    records = SqliteRecords(tmp_path)
    index, secret = records.add_index("i", MODELS, []), records.signing_secret()
    records.close()
    again = SqliteRecords(tmp_path)
    assert again.index(index.id) == index and again.signing_secret() != secret
    again.close()


def test_qdrant_records_keep_the_first_signing_secret_across_restarts():
    client = QdrantClient(":memory:")
    secret = QdrantRecords(client, "t").signing_secret()
    assert QdrantRecords(client, "t").signing_secret() == secret  # a restarted or added replica


def test_qdrant_records_live_in_one_collection_per_kind():
    client = QdrantClient(":memory:")
    QdrantRecords(client, "scenes").add_index("i", MODELS, [])
    names = {c.name for c in client.get_collections().collections}
    assert {records_collection("scenes", kind) for kind in ("indexes", "videos", "uploads", "chunks")} <= names
    assert client.count(records_collection("scenes", "indexes")).count == 1


# ---- two replicas over one Qdrant ---------------------------------------------------------------
def test_what_one_replica_writes_the_other_reads(replicas):
    a, b = replicas
    index = a.add_index("shared", MODELS, [])
    task = _video(a, index.id, "a1", PENDING)
    assert b.index(index.id) == index and b.task(task.task_id).id == task.id
    assert b.searchable(index.id)[0] == []
    a.update_video(task.id, status=READY)  # b's cached search must not outlive a's change
    assert [r.id for r in b.searchable(index.id)[0]] == [task.id]
    assert a.signing_secret() == b.signing_secret()


def test_racing_completions_from_two_replicas_have_one_winner(replicas):
    for _ in range(10):
        upload = _upload(replicas[0])
        wins: list[bool] = []
        start = threading.Barrier(2)

        def complete(records: Records) -> None:
            start.wait()
            wins.append(records.move_upload(upload.id, ACTIVE, COMPLETED))

        threads = [threading.Thread(target=complete, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False, True]


def test_a_chunk_reported_through_one_replica_is_not_replaced_through_the_other(replicas):
    a, b = replicas
    upload = _upload(a)
    a.chunk_received(upload.id, 1, 10, "first")
    assert b.chunk_reported(upload.id, 1, "first") is True
    a.chunk_received(upload.id, 1, 10, "second")  # a late re-send reaching the other replica
    assert a.chunk_reported(upload.id, 1, "first") is False
    assert b.chunk(upload.id, 1).etag == "first" and b.completed_chunks(upload.id) == 1


def test_an_analyze_task_run_by_one_replica_is_answered_by_the_other(replicas):
    a, b = replicas
    book_a, book_b = TaskBook(a.task_shelf()), TaskBook(b.task_shelf())
    release = threading.Event()

    class Result:
        generation_id, text, finish_reason, input_tokens, output_tokens = "g", "a summary", "stop", 3, 2

    def run() -> Result:
        release.wait(30)
        return Result()

    created = book_a.submit(AnalyzeBody(video_id="v" * 24, prompt="summarize"), run)
    assert book_b.get(created["task_id"])["status"] in ("queued", "processing")  # b did not cut it short
    release.set()
    deadline = time.monotonic() + 30
    while book_b.get(created["task_id"])["status"] != "ready":
        assert time.monotonic() < deadline, "the task did not end"
        time.sleep(0.05)
    assert book_b.get(created["task_id"])["result"]["data"] == "a summary"
    assert "heartbeat_at" not in book_b.get(created["task_id"])


def test_an_analyze_task_whose_replica_stopped_ends_failed(replicas):
    a, _ = replicas
    a.task_shelf().keep({"task_id": "t1", "status": "processing", "created_at": "2026-01-01T00:00:00Z",
                         "heartbeat_at": time.time() - TaskBook.STALE_AFTER_S - 1})
    task = TaskBook(a.task_shelf()).get("t1")
    assert task["status"] == "failed" and task["error"]["code"] == "task_interrupted" and task["completed_at"]
    assert TaskBook(a.task_shelf()).get("nope") is None


def test_an_older_servers_sqlite_records_move_into_qdrant_once(tmp_path):
    """An upgrade from a server that kept its records in sqlite next to a Qdrant server for the
    scenes: the first start with the records in Qdrant brings every record over, deleted ones and
    the state of uploads and chunks included, and the file is not read again."""
    old = SqliteRecords(tmp_path)
    index = old.add_index("news", MODELS, [])
    ready = _video(old, index.id, "a1", READY, sha256="s1")
    gone = _video(old, index.id, "a2", READY)
    old.delete_video(gone.id)
    old.update_video(ready.id, user_metadata={"desk": "sports"}, system_metadata={"duration": 9.5})
    upload = _upload(old, chunks=2)
    old.chunk_received(upload.id, 1, 10, "etag-1")
    assert old.chunk_reported(upload.id, 1, "etag-1")
    token = old.add_search_page({"query_text": "goal"}, 2)
    old.close()

    client = QdrantClient(":memory:")
    moved = move_in_sqlite_records(tmp_path, QdrantRecords(client, "t"))
    assert moved == 6 and not (tmp_path / "server.sqlite3").exists()
    new = QdrantRecords(client, "t")
    assert [i.name for i in new.indexes()] == ["news"]
    [video] = new.videos(index.id)
    assert (video.id, video.task_id, video.user_metadata, video.system_metadata) == (
        ready.id, ready.task_id, {"desk": "sports"}, {"duration": 9.5})
    assert new.video(gone.id) is None and new.asset_ids_ever(index.id) == {"a1", "a2"}
    assert new.ready_with_content(index.id, "s1").id == ready.id
    assert new.upload(upload.id).total_chunks == 2 and new.chunk(upload.id, 1).status == COMPLETED
    assert not new.chunk_reported(upload.id, 1, "etag-1")  # already reported, as before the move
    assert new.search_page(token) == ({"query_text": "goal"}, 2)
    # A second replica starting from an old copy of the file finds the records there and moves nothing.
    SqliteRecords(tmp_path).add_index("stale", MODELS, [])
    assert move_in_sqlite_records(tmp_path, QdrantRecords(client, "t")) == 0
    assert [i.name for i in new.indexes()] == ["news"]
