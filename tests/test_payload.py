"""The scene payload is declared once (schemas/payload.py): the dict written to Qdrant, its
indexes, the filter names and the hit read back all follow the one declaration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sceneline.pipelines.filters import FIELDS
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.payload import (
    ASSET_ONLY_FIELDS,
    FILTER_FIELDS,
    MEDIA_PAYLOAD_INDEXES,
    PAYLOAD_INDEXES,
    SCENE_PAYLOAD_INDEXES,
    AssetPayload,
    ScenePayload,
)
from sceneline.schemas.qdrant_layout import SCENE_PAYLOAD_INDEXES as LAYOUT_INDEXES
from sceneline.transforms.store.payloads import joined, media_payload
from sceneline.transforms.store.scene_store import hit_from_point, scene_payload


def _asset(enrichment: dict) -> AnalyzedAsset:
    media = MediaAsset(asset_id="a1", uri="/m/harbor.mp4", media_type=MediaType.VIDEO, size_bytes=1000,
                       user_metadata={"customer": "acme"})
    scene = Scene(index=0, start_s=0.0, end_s=4.0, start_frame=0, end_frame=99, enrichment=enrichment)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(duration_s=4.0, display_width=640, display_height=360,
                                                      avg_fps=25.0, codec="h264"), scenes=[scene])


def test_the_payload_holds_the_declared_fields_and_only_the_enrichment_that_ran():
    payload = scene_payload(_asset({"description": "a boat", "tags": ["boat"]}), 0)
    enrichment_fields = {"content_category", "caption_error", "visible_text", "text_regions", "transcript",
                         "transcript_error"}
    assert set(payload) == set(ScenePayload.model_fields) - enrichment_fields
    assert payload["duration"] == 4.0 and payload["fps"] == 25.0 and payload["metadata"] == {"customer": "acme"}
    assert payload["description"] == "a boat" and payload["tags"] == ["boat"]


def test_indexes_and_filters_derive_from_the_declaration():
    assert LAYOUT_INDEXES is SCENE_PAYLOAD_INDEXES and FIELDS is FILTER_FIELDS
    assert set(SCENE_PAYLOAD_INDEXES) <= set(ScenePayload.model_fields)
    assert set(FILTER_FIELDS.values()) <= set(ScenePayload.model_fields)
    assert FILTER_FIELDS["id"] == "asset_id" and FILTER_FIELDS["size"] == "size_bytes"
    assert PAYLOAD_INDEXES["tags"] == "category" and PAYLOAD_INDEXES["duration"] == "float"
    # The split layout: scene points are indexed on their own fields, media points on the asset's.
    assert SCENE_PAYLOAD_INDEXES["tags"] == "category" and "duration" not in SCENE_PAYLOAD_INDEXES
    assert MEDIA_PAYLOAD_INDEXES["duration"] == "float" and "tags" not in MEDIA_PAYLOAD_INDEXES
    assert SCENE_PAYLOAD_INDEXES["asset_id"] == MEDIA_PAYLOAD_INDEXES["asset_id"] == "keyword"  # the join key
    assert {**SCENE_PAYLOAD_INDEXES, **MEDIA_PAYLOAD_INDEXES} == PAYLOAD_INDEXES


def test_the_split_payloads_join_back_into_the_whole_payload():
    analyzed = _asset({"description": "a boat", "tags": ["boat"]})
    whole = scene_payload(analyzed, 0)
    own, media = scene_payload(analyzed, 0, split=True), media_payload(analyzed)
    assert not set(own) & ASSET_ONLY_FIELDS and own["asset_id"] == "a1" and own["tags"] == ["boat"]
    assert set(media) == set(AssetPayload.model_fields) and media["metadata"] == {"customer": "acme"}
    assert joined(own, media) == whole


def test_a_hit_reads_the_payload_back_through_the_declaration():
    payload = scene_payload(_asset({"visible_text": "EXIT", "text_regions": [{"text": "EXIT"}]}), 0)
    hit = hit_from_point({**payload, "from_a_newer_version": 1}, 0.5)
    assert (hit.asset_id, hit.filename, hit.visible_text, hit.tags, hit.score) == ("a1", "harbor.mp4", "EXIT", [], 0.5)
    assert hit.payload["from_a_newer_version"] == 1


def test_enrichment_is_typed():
    with pytest.raises(ValidationError):
        Scene(index=0, start_s=0, end_s=1, start_frame=0, end_frame=1, enrichment={"tags": "not a list", "x": 1})
    scene = Scene(index=0, start_s=0, end_s=1, start_frame=0, end_frame=1, enrichment={"tags": ["a"]})
    assert scene.enrichment.but(description="d").tags == ["a"]
