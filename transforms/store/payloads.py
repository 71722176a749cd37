"""Scene payloads: what the index stores with each scene, and a search hit read back from one.
Both go through the one declaration of the payload (schemas/payload.py)."""

from __future__ import annotations

from typing import Any

from sceneline.schemas import AnalyzedAsset, SearchHit
from sceneline.schemas.payload import ScenePayload


def scene_payload(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
    return ScenePayload.of(analyzed, scene_index).to_payload()


def hit_from_point(payload: dict[str, Any], score: float) -> SearchHit:
    return ScenePayload.model_validate(payload).hit(score, payload)
