"""Search filters (TwelveLabs' syntax), fusion, thresholds, grouping and paging against a Qdrant
collection whose payloads and vectors the test chose, on both local modes."""

from __future__ import annotations

import pytest
from qdrant_client import models

from sceneline.pipelines.filters import FilterError, parse_filter_text, translate_filter
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene, SearchRequest
from sceneline.schemas.qdrant_layout import TEXT_VECTOR, VISUAL_VECTOR
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

# ---- translation ---------------------------------------------------------------------------


def test_twelvelabs_fields_map_to_payload_keys_and_conditions():
    flt = translate_filter({"duration": {"gte": 60, "lt": 600}, "filename": "a.mp4", "width": 1920,
                            "id": ["A", "B"], "size": {"lte": 10_000}})
    by_key = {c.key: c for c in flt.must}
    assert by_key["duration"].range == models.Range(gte=60, lt=600)
    assert by_key["filename"].match == models.MatchValue(value="a.mp4")
    assert by_key["width"].range == models.Range(gte=1920, lte=1920)  # matches 1920 and 1920.0
    assert by_key["asset_id"].match == models.MatchAny(any=["A", "B"])
    assert by_key["size_bytes"].range == models.Range(lte=10_000)


def test_other_fields_are_user_metadata():
    flt = translate_filter({"category": "news", "metadata": {"reviewed": True}, "metadata.score": {"gt": 3},
                            "content_category": "product"})
    assert {c.key for c in flt.must} == {"metadata.category", "metadata.reviewed", "metadata.score",
                                         "content_category"}


def test_a_list_of_numbers_is_any_of_them():
    [cond] = translate_filter({"fps": [25, 29.97]}).must
    assert isinstance(cond, models.Filter) and len(cond.should) == 2


@pytest.mark.parametrize("spec, reason", [
    ({"duration": {"gte": "long"}}, "needs a number"),
    ({"duration": {"between": [1, 2]}}, "unknown operator"),
    ({"duration": {}}, "empty range"),
    ({"id": []}, "list is empty"),
    ({"filename": None}, "null"),
    ({"metadata": "x"}, "must be an object"),
    ({"filename": {"nested": {"x": 1}}}, "unknown operator"),
])
def test_filters_that_cannot_mean_anything_say_why(spec, reason):
    with pytest.raises(FilterError, match=reason):
        translate_filter(spec)


def test_filter_text_is_json_objects_only():
    assert parse_filter_text(None) is None and parse_filter_text("  ") is None
    assert parse_filter_text('{"width": 1920}') == {"width": 1920}
    with pytest.raises(FilterError, match="not valid JSON"):
        parse_filter_text("{duration: 60}")
    with pytest.raises(FilterError, match="JSON object"):
        parse_filter_text("[1, 2]")


def test_requests_check_modalities_and_thresholds():
    assert SearchRequest(text="x", modalities="text, visual").modalities == ("text", "visual")
    with pytest.raises(ValueError, match="modalities"):
        SearchRequest(text="x", modalities="audio")
    with pytest.raises(ValueError, match="per modality"):
        SearchRequest(text="x", threshold={"audio": 0.3})
    request = SearchRequest(text="x", threshold={"text": 0.4})
    assert request.threshold_for("text") == 0.4 and request.threshold_for("visual") is None


# ---- a collection with known payloads --------------------------------------------------------
# Two-dimensional vectors at known angles make every ranking predictable: `visual` and `text`
# rank the scenes differently, so fusion, filters and groups have something to show.

def unit(degrees: float) -> list[float]:
    import math

    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


ASSETS = {
    # asset: (filename, media type, duration, width, metadata, [(visual angle, text angle or None, tags)])
    "11111111-1111-5111-8111-111111111111": ("harbor.mp4", MediaType.VIDEO, 120.0, 1920, {"customer": "acme"},
                                             [(0, 80, ["boat"]), (5, 0, ["boat", "night"]), (50, 60, ["market"])]),
    "22222222-2222-5222-8222-222222222222": ("city.mp4", MediaType.VIDEO, 30.0, 1280, {"customer": "zeta"},
                                             [(10, 40, ["street"]), (70, None, ["car"])]),
    "33333333-3333-5333-8333-333333333333": ("sign.jpg", MediaType.IMAGE, None, 800, {},
                                             [(30, 5, ["sign"])]),
}


def analyzed(asset_id: str) -> AnalyzedAsset:
    filename, media_type, duration, width, metadata, scenes = ASSETS[asset_id]
    built = []
    for i, (visual, text, tags) in enumerate(scenes):
        vectors = {VISUAL_VECTOR: unit(visual)}
        if text is not None:
            vectors[TEXT_VECTOR] = unit(text)
        built.append(Scene(index=i, start_s=10.0 * i, end_s=10.0 * i + 10, start_frame=250 * i,
                           end_frame=250 * i + 249, vectors=vectors,
                           enrichment={"tags": tags, "description": f"{filename} scene {i}"}))
    media = MediaAsset(asset_id=asset_id, uri=f"/m/{filename}", media_type=media_type, size_bytes=1000,
                       user_metadata=metadata)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(duration_s=duration, display_width=width,
                                                      display_height=width * 9 // 16), scenes=built)


@pytest.fixture(params=["memory", "path"], scope="module")
def store(request, tmp_path_factory):
    path = ":memory:" if request.param == "memory" else str(tmp_path_factory.mktemp("q") / "qdrant")
    store = SceneStore(StoreConfig(path=path, collection=f"filters_{request.param}"))
    store.ensure_collections({VISUAL_VECTOR: 2, TEXT_VECTOR: 2}, {VISUAL_VECTOR: "v", TEXT_VECTOR: "t"})
    for asset_id in ASSETS:
        store.write_scenes(analyzed(asset_id))
    yield store
    close_shared_clients()


QUERY = {VISUAL_VECTOR: unit(0), TEXT_VECTOR: unit(0)}


def names(hits) -> list[tuple[str, int]]:
    return [(h.filename, h.scene_index) for h in hits]


def test_one_vector_ranks_by_its_own_similarity(store):
    assert names(store.query_scenes({TEXT_VECTOR: unit(0)}, limit=3)) == [
        ("harbor.mp4", 1), ("sign.jpg", 0), ("city.mp4", 0)]
    assert names(store.query_scenes({VISUAL_VECTOR: unit(0)}, limit=3)) == [
        ("harbor.mp4", 0), ("harbor.mp4", 1), ("city.mp4", 0)]


def test_fusion_favours_scenes_both_vectors_rank_well(store):
    hits = store.query_scenes(QUERY, limit=10)
    # 2nd by visual and 1st by text beats 1st by visual and last by text.
    assert names(hits)[:2] == [("harbor.mp4", 1), ("harbor.mp4", 0)]
    assert len(hits) == 6  # the scene without a text vector is still found by its visual one
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].description == "harbor.mp4 scene 1" and hits[0].tags == ["boat", "night"]


def test_filters_apply_to_fused_results(store):
    def found(spec):
        return sorted(names(store.query_scenes(QUERY, limit=10, query_filter=translate_filter(spec))))

    assert found({"duration": {"gte": 60}}) == [("harbor.mp4", 0), ("harbor.mp4", 1), ("harbor.mp4", 2)]
    assert found({"filename": "city.mp4"}) == [("city.mp4", 0), ("city.mp4", 1)]
    assert found({"width": 800}) == [("sign.jpg", 0)]
    assert found({"id": ["22222222-2222-5222-8222-222222222222", "33333333-3333-5333-8333-333333333333"]}) == [
        ("city.mp4", 0), ("city.mp4", 1), ("sign.jpg", 0)]
    assert found({"customer": "acme", "tags": "night"}) == [("harbor.mp4", 1)]
    assert found({"media_type": "image", "duration": {"gte": 1}}) == []  # images have no duration


def test_a_threshold_bounds_each_vector_before_fusion(store):
    hits = store.query_scenes(QUERY, limit=10, thresholds={VISUAL_VECTOR: 0.99, TEXT_VECTOR: 0.99})
    # cos 5 degrees = 0.996 passes, cos 10 degrees = 0.985 does not, on either vector.
    assert sorted(names(hits)) == [("harbor.mp4", 0), ("harbor.mp4", 1), ("sign.jpg", 0)]
    single = store.query_scenes({TEXT_VECTOR: unit(0)}, limit=10, thresholds={TEXT_VECTOR: 0.9})
    assert names(single) == [("harbor.mp4", 1), ("sign.jpg", 0)]


def test_grouping_by_video_keeps_each_asset_s_best_clips(store):
    groups = store.query_scene_groups(QUERY, groups=10, group_size=2)
    assert [g[0].filename for g in groups][0] == "harbor.mp4"
    assert sorted(len(g) for g in groups) == [1, 2, 2]
    for group in groups:
        assert len({h.asset_id for h in group}) == 1
        assert [h.score for h in group] == sorted((h.score for h in group), reverse=True)


def test_pages_follow_on_without_overlap(store):
    everything = names(store.query_scenes(QUERY, limit=6))
    pages = [names(store.query_scenes(QUERY, limit=2, offset=skip)) for skip in (0, 2, 4)]
    assert [hit for page in pages for hit in page] == everything
