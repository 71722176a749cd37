"""The store behaves the same on every Qdrant mode it can reach here (memory, local folder):
deterministic ids, stale scenes dropped, status records, superseded versions retired."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest

from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.store.scene_store import IndexMismatchError, SceneStore, StoreConfig, close_shared_clients
from sceneline.transforms.store.gateway import ADVERT_NAME, serve_folder


@pytest.fixture(params=["memory", "path", "gateway"])
def store(request, tmp_path):
    """The same store calls on each mode: in memory, a local folder, and a local folder served
    over HTTP in Qdrant's REST dialect (what other processes see; no Qdrant server binary can be
    had here, so this is how the URL code path runs for real)."""
    collection = f"t_{request.param}_{tmp_path.name[-8:]}"
    with contextlib.ExitStack() as stack:
        if request.param == "gateway":
            url = stack.enter_context(serve_folder(str(tmp_path / "qdrant")))
            config = StoreConfig(url=url, collection=collection)
        else:
            path = ":memory:" if request.param == "memory" else str(tmp_path / "qdrant")
            config = StoreConfig(path=path, collection=collection)
        store = SceneStore(config)
        store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
        yield store
    close_shared_clients()


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


def test_the_same_calls_give_the_same_results_on_every_mode(tmp_path):
    results = []
    with serve_folder(str(tmp_path / "served")) as url:
        configs = [StoreConfig(path=":memory:", collection="cmp"), StoreConfig(path=str(tmp_path / "q"), collection="cmp"),
                   StoreConfig(url=url, collection="cmp")]
        for config in configs:
            s = SceneStore(config)
            s.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
            a = asset(A1, "/m/a.mp4", 8, seed=7)
            s.write_scenes(a)
            s.write_scenes(asset(A2, "/m/b.mp4", 8, seed=8))
            hits = s.search(VISUAL_VECTOR, a.scenes[2].vectors[VISUAL_VECTOR], limit=5)
            results.append([(h.asset_id, h.scene_index, round(h.score, 5)) for h in hits])
    close_shared_clients()
    assert results[0] == results[1] == results[2]


CHILD_WRITES = """
import sys
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig
from sceneline.schemas import AssetRecord, AssetStatus
store = SceneStore(StoreConfig(path=sys.argv[1]))
store.put_status(AssetRecord(asset_id=sys.argv[2], uri="/m/child.mp4", filename="child.mp4",
                             status=AssetStatus.INDEXED, scene_count=7))
print(store.get_status(sys.argv[2]).scene_count)
"""


def test_another_process_reaches_a_served_folder_through_the_gateway(tmp_path):
    folder = str(tmp_path / "qdrant")
    with serve_folder(folder):
        store = SceneStore(StoreConfig(path=folder))
        store.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "m"})
        # Without the gateway the child would fail: the folder is locked by this process.
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
