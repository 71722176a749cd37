"""How sceneline lays out its index in Qdrant.

One store holds the whole index: a scenes collection with named vectors and a payload per
scene, a companion assets collection (no vectors) with each asset's status record, a media
collection (no vectors) with each asset's fields (filename, duration, user metadata ...), and a
speech collection with one point per speech segment (its `text` vector, its words and times).

Layouts. A scenes collection records its layout in its metadata (`layout`):
- 2, SPLIT_LAYOUT (every index made now): an asset's fields are stored once, on its media
  point; scene and speech points carry only `asset_id` of them. A filter on an asset field is
  resolved on the media collection into asset ids (transforms/store/asset_filters.py), and a hit
  is joined with its media point. Writing a scene then converts and indexes a third of the fields.
- 1 (no `layout`: indexes made before): every point carries its asset's fields; read and
  written as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sceneline.schemas.payload import (  # noqa: F401 (re-exported)
    MEDIA_PAYLOAD_INDEXES,
    PAYLOAD_INDEXES,
    SCENE_PAYLOAD_INDEXES,
)

VISUAL_VECTOR = "visual"
LAYOUT_KEY = "layout"
SPLIT_LAYOUT = 2
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
    "uri": "keyword",  # layout 1 only: split-layout segments have no uri of their own
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

    @property
    def media(self) -> str:
        return f"{self.scenes}_media"
