"""The store behaves the same on every engine it can reach here: deterministic ids, stale scenes
dropped, status records, superseded versions retired. Engines: Qdrant's embedded engine in a
folder and in memory, the same folder reached from another process's view through the store
protocol, and qdrant-client (the server path; no Qdrant server binary can be had here, so it
runs on qdrant-client's local mode, which speaks the same client API)."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest

from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from qdrant_client import QdrantClient, models

from sceneline.pipelines.filters import translate_filter
from sceneline.pipelines.store_service import serve_store
from sceneline.transforms.store.advert import ADVERT_NAME
from sceneline.transforms.store.backend import CollectionSpec
from sceneline.transforms.store.client_backend import QdrantClientBackend
from sceneline.transforms.store.proxy import ProxyBackend
from sceneline.transforms.store.scene_store import (
    IndexMismatchError,
    SceneStore,
    StoreConfig,
    StoreConfigError,
    close_shared_clients,
)

MODES = ["memory", "path", "proxy", "qdrant-client"]


@contextlib.contextmanager
def open_store(mode: str, folder, collection: str):
    """A SceneStore on one engine: `memory` and `path` embed Qdrant's engine; `proxy` is the
    client side of the store protocol, talking to this process serving `folder` (what other
    processes get); `qdrant-client` is the server path on qdrant-client's local mode."""
    with contextlib.ExitStack() as stack:
        backend = None
        if mode == "proxy":
            url = stack.enter_context(serve_store(str(folder)))
            backend = ProxyBackend(url)
            stack.callback(backend.close)
        elif mode == "qdrant-client":
            backend = QdrantClientBackend(QdrantClient(location=":memory:"))
            stack.callback(backend.close)
        path = ":memory:" if mode == "memory" else str(folder)
        yield SceneStore(StoreConfig(path=path, collection=collection), backend=backend)
    close_shared_clients()


@pytest.fixture(scope="module", params=MODES)
def shared_store(request, tmp_path_factory):
    """One engine and collection per mode for the module (making collections with their payload
    indexes takes seconds); each test starts from an empty one."""
    with open_store(request.param, tmp_path_factory.mktemp("qdrant"), "t") as store:
        store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
        yield store


@pytest.fixture
def store(shared_store):
    for collection in (shared_store.names.scenes, shared_store.names.assets, shared_store.names.media):
        shared_store.backend.delete(collection, where=models.Filter(must=[]))
    assert shared_store.count_scenes() == 0
    return shared_store


def asset(asset_id: str, uri: str, n_scenes: int, seed: int = 0) -> AnalyzedAsset:
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(n_scenes):
        v = rng.normal(size=4)
        scenes.append(Scene(index=i, start_s=i * 2.0, end_s=i * 2.0 + 2, start_frame=i * 50,
                            end_frame=i * 50 + 49, vectors={VISUAL_VECTOR: (v / np.linalg.norm(v)).tolist()}))
    media = MediaAsset(asset_id=asset_id, uri=uri, media_type=MediaType.VIDEO, size_bytes=100)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(duration_s=n_scenes * 2.0, display_width=640,
                                                      display_height=360), scenes=scenes)


A1 = "11111111-1111-5111-8111-111111111111"
A2 = "22222222-2222-5222-8222-222222222222"


def test_rewriting_an_asset_keeps_the_point_count(store):
    store.write_scenes(asset(A1, "/m/a.mp4", 5))
    store.write_scenes(asset(A1, "/m/a.mp4", 5))
    assert store.count_scenes() == 5


def test_fewer_scenes_on_rewrite_drop_the_stale_ones(store):
    store.write_scenes(asset(A1, "/m/a.mp4", 5))
    store.write_scenes(asset(A1, "/m/a.mp4", 3))
    assert [p["scene_index"] for p in store.scenes_of(A1)] == [0, 1, 2]


def test_search_returns_the_scene_of_the_query_vector(store):
    a = asset(A1, "/m/a.mp4", 6, seed=3)
    store.write_scenes(a)
    store.write_scenes(asset(A2, "/m/b.mp4", 6, seed=4))
    hits = store.search(VISUAL_VECTOR, a.scenes[4].vectors[VISUAL_VECTOR], limit=3)
    assert (hits[0].asset_id, hits[0].scene_index) == (A1, 4)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].start_s == 8.0 and hits[0].end_s == 10.0 and hits[0].filename == "a.mp4"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_an_asset_filter_sees_the_assets_written_and_deleted_since_it_last_ran(store):
    """Filters on asset fields are resolved on the media collection, and what was resolved is
    kept only while that collection is unchanged."""
    by_name = translate_filter({"filename": "b.mp4"})
    store.write_scenes(asset(A1, "/m/a.mp4", 2))
    assert store.count_scenes(where=by_name) == 0
    b = asset(A2, "/m/b.mp4", 3, seed=5)
    store.write_scenes(b)
    assert store.count_scenes(where=by_name) == 3
    hits = store.query_scenes({VISUAL_VECTOR: b.scenes[0].vectors[VISUAL_VECTOR]}, limit=10, query_filter=by_name)
    assert [(h.asset_id, h.filename) for h in hits] == [(A2, "b.mp4")] * 3
    store.delete_asset(A2)
    assert store.count_scenes(where=by_name) == 0 and store.count_scenes() == 2


def test_status_records_round_trip(store):
    record = AssetRecord(asset_id=A1, uri="/m/a.mp4", filename="a.mp4", media_type=MediaType.VIDEO,
                         status=AssetStatus.FAILED, stage="decode", error_type="MediaError",
                         error_message="truncated", retryable=False, run_id="r1")
    store.put_status(record)
    got = store.get_status(A1)
    assert got.status is AssetStatus.FAILED and got.error_message == "truncated" and got.stage == "decode"
    assert store.count_status("r1") == {"failed": 1}
    assert store.get_status(A2) is None


def test_a_new_version_at_the_same_uri_retires_the_old_one(store):
    store.write_scenes(asset(A1, "/m/a.mp4", 4))
    store.put_status(AssetRecord(asset_id=A1, uri="/m/a.mp4", filename="a.mp4", status=AssetStatus.INDEXED))
    store.write_scenes(asset(A2, "/m/a.mp4", 2))
    assert store.supersede("/m/a.mp4", A2) == [A1]
    assert store.count_scenes(A1) == 0 and store.count_scenes(A2) == 2
    assert store.get_status(A1).status is AssetStatus.DELETED


def test_an_older_object_generation_never_retires_a_newer_one(store):
    """Bucket events arrive in any order: only older generations of an object are replaced."""
    uri = "gs://b/a.mp4"
    store.write_scenes(asset(A1, uri, 2))
    store.put_status(AssetRecord(asset_id=A1, uri=uri, filename="a.mp4", status=AssetStatus.INDEXED, generation="20"))
    assert store.supersede(uri, A2, generation="9") == []
    assert store.count_scenes(A1) == 2 and store.get_status(A1).status is AssetStatus.INDEXED
    assert store.newer_generation(uri, "9").asset_id == A1
    assert store.newer_generation(uri, "20") is None
    assert store.supersede(uri, A2, generation="21") == [A1]
    assert store.count_scenes(A1) == 0


def test_delete_asset(store):
    store.write_scenes(asset(A1, "/m/a.mp4", 3))
    store.put_status(AssetRecord(asset_id=A1, uri="/m/a.mp4", filename="a.mp4", status=AssetStatus.INDEXED))
    store.delete_asset(A1)
    assert store.count_scenes() == 0 and store.get_status(A1).status is AssetStatus.DELETED


def test_a_different_model_cannot_write_into_the_index(store):
    with pytest.raises(IndexMismatchError, match="--collection"):
        store.ensure_collections({VISUAL_VECTOR: 8}, {VISUAL_VECTOR: "other-model"})
    assert store.index_info()["models"] == {VISUAL_VECTOR: "test-model"}


CHILD_WRITES = """
import sys
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig
from sceneline.schemas import AssetRecord, AssetStatus
store = SceneStore(StoreConfig(path=sys.argv[1]))
store.put_status(AssetRecord(asset_id=sys.argv[2], uri="/m/child.mp4", filename="child.mp4",
                             status=AssetStatus.INDEXED, scene_count=7))
print(store.get_status(sys.argv[2]).scene_count)
"""


def test_another_process_reaches_a_served_folder_through_the_store_protocol(tmp_path):
    folder = str(tmp_path / "qdrant")
    with serve_store(folder):
        store = SceneStore(StoreConfig(path=folder))
        store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
        # Without the owner's service the child would fail: the folder is locked by this process.
        child = subprocess.run([sys.executable, "-c", CHILD_WRITES, folder, A1],
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        assert child.stdout.strip() == "7"
        assert store.get_status(A1).scene_count == 7
    assert not (tmp_path / "qdrant" / ADVERT_NAME).exists()
    close_shared_clients()


def test_a_stale_advert_is_ignored(tmp_path):
    folder = tmp_path / "qdrant"
    folder.mkdir()
    (folder / ADVERT_NAME).write_text('{"url": "http://127.0.0.1:9", "pid": 999999999}')
    store = SceneStore(StoreConfig(path=str(folder)))
    store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
    assert store.count_scenes() == 0
    assert not (folder / ADVERT_NAME).exists()
    close_shared_clients()


CHILD_OPENS = """
import sys
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig
SceneStore(StoreConfig(path=sys.argv[1])).count_scenes()
"""


def test_a_folder_held_by_a_process_that_does_not_serve_it_is_one_clear_error(tmp_path):
    folder = str(tmp_path / "qdrant")
    SceneStore(StoreConfig(path=folder)).ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
    child = subprocess.run([sys.executable, "-c", CHILD_OPENS, folder], capture_output=True, text=True, timeout=120)
    close_shared_clients()
    assert child.returncode != 0
    assert "StoreConfigError" in child.stderr and "sceneline serve --qdrant-path" in child.stderr
    # Once this process lets go, the folder opens again.
    assert SceneStore(StoreConfig(path=folder)).count_scenes() == 0
    close_shared_clients()


def test_the_store_keeps_its_index_across_processes(tmp_path):
    folder = str(tmp_path / "qdrant")
    store = SceneStore(StoreConfig(path=folder))
    store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
    store.write_scenes(asset(A1, "/m/a.mp4", 3))
    close_shared_clients()
    reopened = SceneStore(StoreConfig(path=folder))
    assert reopened.count_scenes(A1) == 3 and reopened.index_info()["models"] == {VISUAL_VECTOR: "m"}
    close_shared_clients()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden"])
def test_a_collection_name_never_leaves_the_folder(tmp_path, name):
    store = SceneStore(StoreConfig(path=str(tmp_path / "qdrant"), collection=name or "x"))
    try:
        with pytest.raises(Exception, match="invalid collection name"):
            store.backend.create_collection(name, CollectionSpec(vectors={"v": 2}))
        assert not (tmp_path / "escape").exists() and sorted(p.name for p in (tmp_path / "qdrant").iterdir()) == [
            ".sceneline.lock", "collections", "sceneline-engine.json"]
    finally:
        close_shared_clients()


def test_the_store_protocol_answers_a_bad_call_with_a_reason(tmp_path):
    import httpx

    from sceneline.transforms.store.backend import StoreBackendError

    with serve_store(str(tmp_path / "qdrant")) as url:
        proxy = ProxyBackend(url)
        try:
            with pytest.raises(StoreBackendError, match="collection 'nope' not found"):
                proxy.count("nope")
            bad = httpx.post(f"{url}/internal/store/collections/nope/query", json={"vectors": {}, "limit": "many"})
            assert 400 <= bad.status_code < 500 and "many" in bad.text
        finally:
            proxy.close()
    close_shared_clients()
