"""How sceneline lays out its index in Qdrant.

One store holds the whole index: a scenes collection with named vectors and a payload per
scene, a companion assets collection (no vectors) with each asset's status record, and a
speech collection with one point per speech segment (its `text` vector, its words and times).
"""

from __future__ import annotations

from dataclasses import dataclass

from sceneline.schemas.payload import SCENE_PAYLOAD_INDEXES  # noqa: F401 (re-exported)

VISUAL_VECTOR = "visual"
TEXT_VECTOR = "text"

# The scene payload and its indexes are declared in schemas/payload.py.
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


def index_collection(collection: str, index_id: str) -> str:
    """The scenes collection of one API index (`sceneline serve`): one index, one collection."""
    return f"{collection}-{index_id}"


@dataclass(frozen=True)
class CollectionNames:
    scenes: str

    @property
    def assets(self) -> str:
        return f"{self.scenes}_assets"

    @property
    def speech(self) -> str:
        return f"{self.scenes}_speech"
