"""How sceneline lays out its index in Qdrant.

One store holds the whole index: a scenes collection with named vectors and a payload per
scene, a companion assets collection (no vectors) with each asset's status record, and a
speech collection with one point per speech segment (its `text` vector, its words and times).
"""

from __future__ import annotations

from dataclasses import dataclass

VISUAL_VECTOR = "visual"
TEXT_VECTOR = "text"

# Payload fields with an index (keyword: exact match; float/integer: ranges).
SCENE_PAYLOAD_INDEXES: dict[str, str] = {
    "asset_id": "keyword",
    "uri": "keyword",
    "filename": "keyword",
    "media_type": "keyword",
    "scene_index": "integer",
    "start_s": "float",
    "end_s": "float",
    "duration": "float",
    "width": "integer",
    "height": "integer",
    # Filters of the search side (pipelines/filters.py).
    "fps": "float",
    "size_bytes": "integer",
    "tags": "keyword",
    "content_category": "keyword",
}
ASSET_PAYLOAD_INDEXES: dict[str, str] = {
    "asset_id": "keyword",
    "uri": "keyword",
    "status": "keyword",
    "run_id": "keyword",
}

# Speech segments: filtered by asset and time; `text` also gets a full-text index (lexical search).
SPEECH_PAYLOAD_INDEXES: dict[str, str] = {
    "asset_id": "keyword",
    "uri": "keyword",
    "segment_index": "integer",
    "start_s": "float",
    "end_s": "float",
    "text": "text",
}


@dataclass(frozen=True)
class CollectionNames:
    scenes: str

    @property
    def assets(self) -> str:
        return f"{self.scenes}_assets"

    @property
    def speech(self) -> str:
        return f"{self.scenes}_speech"
