"""How sceneline lays out its index in Qdrant.

One store holds the whole index: a scenes collection with named vectors and a payload per
scene, and a companion assets collection (no vectors) with each asset's status record.
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


@dataclass(frozen=True)
class CollectionNames:
    scenes: str

    @property
    def assets(self) -> str:
        return f"{self.scenes}_assets"
