"""Parity: the same store calls give the same answers on every implementation of the engine
interface. `embedded` is Qdrant's engine in-process (qdrant-edge-py, the default); `server` is
the qdrant-client code path used against a Qdrant server, run here on qdrant-client's local mode
(`QdrantClient(location=":memory:")`, which speaks the same client API: no Qdrant server binary
can be had on this machine); `proxy` is the store protocol to the process owning a folder.

Also here: folders of the old embedded default (qdrant-client's local mode) are refused with the
command that migrates them, and `sceneline migrate-index` carries their whole index over.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from sceneline.pipelines.cli import app
from sceneline.pipelines.filters import translate_filter
from sceneline.pipelines.store_service import serve_store
from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import PAYLOAD_INDEXES, TEXT_VECTOR, VISUAL_VECTOR
from sceneline.transforms.store.backend import CollectionSpec, StorePoint, VectorQuery
from sceneline.transforms.store.client_backend import QdrantClientBackend
from sceneline.transforms.store.legacy import LegacyIndexError
from sceneline.transforms.store.proxy import ProxyBackend
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

# `layout-1`: the embedded engine holding an index made before the split layout (every scene
# carries its asset's fields; schemas/qdrant_layout.py), which is read and written as it is.
IMPLEMENTATIONS = ["embedded", "server", "proxy", "layout-1"]
DIMS = {VISUAL_VECTOR: 8, TEXT_VECTOR: 6}
ASSETS = [  # id, file name, scenes, duration per scene, tags, user metadata
    ("11111111-1111-5111-8111-111111111111", "harbor.mp4", 7, 3.0, ["boat", "night"], {"category": "news"}),
    ("22222222-2222-5222-8222-222222222222", "market.mkv", 5, 10.0, ["market"], {"category": "travel"}),
    ("33333333-3333-5333-8333-333333333333", "street.webm", 6, 6.0, ["night", "street"], {"category": "news"}),
]


def unit(rng: np.random.Generator, n: int) -> list[float]:
    v = rng.normal(size=n)
    return (v / np.linalg.norm(v)).tolist()


def analyzed(asset_id: str, filename: str, n: int, length: float, tags: list[str], metadata: dict,
             seed: int) -> AnalyzedAsset:
    rng = np.random.default_rng(seed)
    scenes = [Scene(index=i, start_s=i * length, end_s=(i + 1) * length, start_frame=i * 25, end_frame=i * 25 + 24,
                    vectors={name: unit(rng, dim) for name, dim in DIMS.items()},
                    enrichment={"tags": tags, "description": f"scene {i} of {filename}"})
              for i in range(n)]
    media = MediaAsset(asset_id=asset_id, uri=f"/media/{filename}", media_type=MediaType.VIDEO, size_bytes=1000 * n,
                       user_metadata=metadata)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(duration_s=n * length, display_width=640, display_height=360),
                         scenes=scenes)


@contextlib.contextmanager
def implementation(name: str, folder):
    with contextlib.ExitStack() as stack:
        backend = None
        if name == "server":
            backend = QdrantClientBackend(QdrantClient(location=":memory:"))
            stack.callback(backend.close)
        elif name == "proxy":
            backend = ProxyBackend(stack.enter_context(serve_store(str(folder))))
            stack.callback(backend.close)
        yield SceneStore(StoreConfig(path=str(folder), collection="parity"), backend=backend)
    close_shared_clients()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Each implementation, filled by the same calls."""
    with contextlib.ExitStack() as stack:
        opened = {}
        for name in IMPLEMENTATIONS:
            store = stack.enter_context(implementation(name, tmp_path_factory.mktemp(name)))
            if name == "layout-1":
                make_layout_1(store)
            store.ensure_collections(DIMS, {VISUAL_VECTOR: "clip", TEXT_VECTOR: "minilm"})
            for seed, spec in enumerate(ASSETS):
                store.write_scenes(analyzed(*spec, seed=seed))
                store.put_status(AssetRecord(asset_id=spec[0], uri=f"/media/{spec[1]}", filename=spec[1],
                                             status=AssetStatus.INDEXED, scene_count=spec[2], run_id="r1"))
            opened[name] = store
        yield opened


def make_layout_1(store: SceneStore, payload_indexes: dict | None = None) -> None:
    """The scenes collection as indexes were made before the split layout: no `layout` in its metadata."""
    store.backend.create_collection(store.names.scenes, CollectionSpec(
        vectors=dict(DIMS), payload_indexes=dict(PAYLOAD_INDEXES if payload_indexes is None else payload_indexes),
        metadata={"models": {VISUAL_VECTOR: "clip", TEXT_VECTOR: "minilm"}, "vector_dims": DIMS}))


def query_vectors(seed: int = 42) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {name: unit(rng, dim) for name, dim in DIMS.items()}


def ranked(hits) -> list[tuple]:
    return [(h.asset_id, h.scene_index, round(h.score, 4)) for h in hits]


def same_on_all(stores, call) -> object:
    answers = {name: call(store) for name, store in stores.items()}
    first = answers["embedded"]
    for name, answer in answers.items():
        assert answer == first, f"{name} differs from embedded"
    return first


def test_writes_counts_and_payloads_agree(stores):
    total = same_on_all(stores, lambda s: s.count_scenes())
    assert total == sum(a[2] for a in ASSETS)
    scenes = same_on_all(stores, lambda s: s.scenes_of(ASSETS[1][0]))
    assert [p["scene_index"] for p in scenes] == list(range(ASSETS[1][2]))
    assert scenes[0]["metadata"] == {"category": "travel"} and scenes[0]["tags"] == ["market"]
    same_on_all(stores, lambda s: s.count_status("r1"))
    same_on_all(stores, lambda s: {k: v for k, v in s.index_info().items() if k != "layout"})
    assert [s.split for s in stores.values()] == [name != "layout-1" for name in stores]


def test_one_vector_ranks_the_same(stores):
    vectors = {VISUAL_VECTOR: query_vectors()[VISUAL_VECTOR]}
    hits = same_on_all(stores, lambda s: ranked(s.query_scenes(vectors, limit=10)))
    assert len(hits) == 10 and [h[2] for h in hits] == sorted((h[2] for h in hits), reverse=True)


@pytest.mark.parametrize("spec", [
    {"duration": {"gte": 30}},
    {"filename": "street.webm"},
    {"id": [ASSETS[0][0], ASSETS[2][0]]},
    {"category": "news"},
    {"tags": "night", "start_s": {"lt": 12}},
])
def test_filters_select_the_same_scenes(stores, spec):
    vectors = {VISUAL_VECTOR: query_vectors(7)[VISUAL_VECTOR]}
    flt = translate_filter(spec)
    hits = same_on_all(stores, lambda s: ranked(s.query_scenes(vectors, limit=50, query_filter=flt)))
    assert hits and len(hits) < sum(a[2] for a in ASSETS)


@pytest.mark.parametrize("spec, expected", [
    ({"duration": {"gte": 30}}, {"market.mkv": 5, "street.webm": 6}),
    ({"width": 640, "size": {"lt": 6500}}, {"market.mkv": 5, "street.webm": 6}),
    ({"filename": ["harbor.mp4", "nowhere.mp4"]}, {"harbor.mp4": 7}),
    ({"category": "news", "tags": "night", "scene_index": {"gte": 4}}, {"harbor.mp4": 3, "street.webm": 2}),
    ({"metadata": {"category": "travel"}, "end_s": {"lte": 20}}, {"market.mkv": 2}),
    ({"filename": "nowhere.mp4"}, {}),
])
def test_filters_on_asset_fields_select_exactly_the_right_scenes(stores, spec, expected):
    """Asset fields are filtered per asset (in the split layout, on the media collection): the
    scenes found are exactly those of the matching assets that the scene conditions admit."""
    vectors = {VISUAL_VECTOR: query_vectors(5)[VISUAL_VECTOR]}
    flt = translate_filter(spec)
    hits = same_on_all(stores, lambda s: sorted((h.filename, h.scene_index) for h in
                                                s.query_scenes(vectors, limit=50, query_filter=flt)))
    assert {name: sum(1 for f, _ in hits if f == name) for name, _ in hits} == expected
    assert same_on_all(stores, lambda s: s.count_scenes(where=flt)) == sum(expected.values())


def test_excluding_assets_and_asset_fields_combine(stores):
    """must_not on asset fields (the API leaves out assets not ready), beside a filter on them."""
    vectors = {VISUAL_VECTOR: query_vectors(9)[VISUAL_VECTOR]}
    flt = models.Filter(must=translate_filter({"category": "news"}).must,
                        must_not=[models.FieldCondition(key="filename", match=models.MatchValue(value="harbor.mp4"))])
    hits = same_on_all(stores, lambda s: {h.filename for h in s.query_scenes(vectors, limit=50, query_filter=flt)})
    assert hits == {"street.webm"}
    groups = same_on_all(stores, lambda s: [[(h.filename, h.uri) for h in g] for g in s.query_scene_groups(
        vectors, groups=3, group_size=2, query_filter=translate_filter({"duration": {"gte": 30}}))])
    assert sorted(g[0][0] for g in groups) == ["market.mkv", "street.webm"] and all(len(g) == 2 for g in groups)
    assert all(uri == f"/media/{name}" for g in groups for name, uri in g)


def test_fused_modalities_give_the_same_rrf_scores(stores):
    """RRF ties are ordered differently by the engines: compare each score's set of scenes."""
    vectors = query_vectors(3)

    def fused(s):
        hits = s.query_scenes(vectors, limit=50)
        scores = [round(h.score, 6) for h in hits]
        assert scores == sorted(scores, reverse=True)
        return sorted((round(h.score, 6), h.asset_id, h.scene_index) for h in hits)

    hits = same_on_all(stores, fused)
    assert len(hits) == sum(a[2] for a in ASSETS) and hits[-1][0] > 0


def test_thresholds_cut_the_same_candidates(stores):
    vectors = {VISUAL_VECTOR: query_vectors(5)[VISUAL_VECTOR]}
    hits = same_on_all(stores, lambda s: ranked(s.query_scenes(vectors, limit=50, thresholds={VISUAL_VECTOR: 0.3})))
    assert hits and all(h[2] >= 0.3 for h in hits)


def test_pages_follow_each_other(stores):
    vectors = {VISUAL_VECTOR: query_vectors(9)[VISUAL_VECTOR]}
    whole = same_on_all(stores, lambda s: ranked(s.query_scenes(vectors, limit=12)))
    pages = same_on_all(stores, lambda s: [ranked(s.query_scenes(vectors, limit=4, offset=o)) for o in (0, 4, 8)])
    assert [h for page in pages for h in page] == whole


def test_grouping_by_video_agrees(stores):
    vectors = {VISUAL_VECTOR: query_vectors(11)[VISUAL_VECTOR]}
    groups = same_on_all(stores, lambda s: [ranked(g) for g in s.query_scene_groups(vectors, groups=3, group_size=2)])
    assert len(groups) == 3 and all(len(g) == 2 for g in groups)
    assert len({g[0][0] for g in groups}) == 3  # one group per video, best video first
    assert [g[0][2] for g in groups] == sorted((g[0][2] for g in groups), reverse=True)


def test_full_text_match_on_a_text_index(stores):
    """What a speech collection needs: a text vector and lexical matching on its `text` field."""
    def lexical(s):
        name = "parity_speech"
        s.backend.create_collection(name, CollectionSpec(vectors={TEXT_VECTOR: 6},
                                                         payload_indexes={"text": "text", "asset_id": "keyword"}))
        rng = np.random.default_rng(1)
        lines = ["the harbor lights at night", "fresh fish at the market", "night market crowds", "quiet street"]
        s.backend.upsert(name, [StorePoint(id=f"00000000-0000-5000-8000-00000000000{i}",
                                           vectors={TEXT_VECTOR: unit(rng, 6)}, payload={"text": line, "asset_id": "a"})
                                for i, line in enumerate(lines)])
        match = models.Filter(must=[models.FieldCondition(key="text", match=models.MatchText(text="night market"))])
        hits = s.backend.query(name, VectorQuery(vectors={TEXT_VECTOR: unit(rng, 6)}, limit=10, where=match))
        return s.backend.count(name, match), sorted(h.payload["text"] for h in hits)

    count, texts = same_on_all(stores, lexical)
    assert (count, texts) == (1, ["night market crowds"])


def test_deletes_agree(stores):
    def delete(s):
        s.delete_asset(ASSETS[2][0], "gone")
        return s.count_scenes(), s.count_scenes(ASSETS[2][0]), s.get_status(ASSETS[2][0]).status.value

    assert same_on_all(stores, delete) == (sum(a[2] for a in ASSETS[:2]), 0, "deleted")


# ---- folders of the old embedded default ----------------------------------------------------

def old_local_mode_folder(folder) -> SceneStore:
    """Write an index the way sceneline's old embedded default did: qdrant-client's local mode
    in a folder (collection/, meta.json, .lock)."""
    backend = QdrantClientBackend(QdrantClient(path=str(folder)))
    store = SceneStore(StoreConfig(path=str(folder), collection="scenes"), backend=backend)
    make_layout_1(store, payload_indexes={})  # local mode kept no payload indexes
    store.ensure_collections(DIMS, {VISUAL_VECTOR: "clip", TEXT_VECTOR: "minilm"})
    for seed, spec in enumerate(ASSETS):
        store.write_scenes(analyzed(*spec, seed=seed))
        store.put_status(AssetRecord(asset_id=spec[0], uri=f"/media/{spec[1]}", filename=spec[1],
                                     status=AssetStatus.INDEXED, scene_count=spec[2], run_id="old"))
    return store


def test_an_old_folder_is_refused_then_migrated(tmp_path):
    folder = tmp_path / "qdrant"
    old = old_local_mode_folder(folder)
    vectors = query_vectors(13)
    before = (ranked(old.query_scenes({VISUAL_VECTOR: vectors[VISUAL_VECTOR]}, limit=10)), old.count_status("old"))
    old.backend.close()
    assert (folder / "meta.json").exists() and (folder / "collection").is_dir()

    with pytest.raises(LegacyIndexError, match=f"sceneline migrate-index --qdrant-path {folder}"):
        SceneStore(StoreConfig(path=str(folder)))
    refused = CliRunner().invoke(app, ["status", "--qdrant-path", str(folder)])
    assert refused.exit_code == 2 and "migrate-index" in refused.output and "Traceback" not in refused.output

    migrated = CliRunner().invoke(app, ["migrate-index", "--qdrant-path", str(folder), "--json"])
    assert migrated.exit_code == 0, migrated.output
    copied = json.loads(migrated.stdout)["points"]
    assert copied == {"scenes": sum(a[2] for a in ASSETS), "scenes_assets": len(ASSETS), "scenes_speech": 0}

    store = SceneStore(StoreConfig(path=str(folder)))
    try:
        assert (ranked(store.query_scenes({VISUAL_VECTOR: vectors[VISUAL_VECTOR]}, limit=10)),
                store.count_status("old")) == before
        assert store.index_info()["models"] == {VISUAL_VECTOR: "clip", TEXT_VECTOR: "minilm"}
        # The payload indexes the old mode never had are there now: filters use them.
        assert store.backend.collection_spec("scenes").payload_indexes["asset_id"] == "keyword"
        assert (folder / "local-mode-backup" / "meta.json").exists() and not (folder / "meta.json").exists()
    finally:
        close_shared_clients()
    again = CliRunner().invoke(app, ["migrate-index", "--qdrant-path", str(folder)])
    assert again.exit_code == 2 and "nothing to migrate" in again.output
