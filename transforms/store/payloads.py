"""Payloads: what the index stores with each scene, speech segment and asset, and a search hit
read back from one. Scenes go through the one declaration of their payload (schemas/payload.py).

In the split layout (schemas/qdrant_layout.py) a scene or speech point leaves its asset's
fields to the asset's media point (`media_payload`), and a hit is read from the two joined."""

from __future__ import annotations

from typing import Any

from sceneline.schemas import AnalyzedAsset, SearchHit
from sceneline.schemas.payload import ASSET_ONLY_FIELDS, AssetPayload, ScenePayload
from sceneline.schemas.speech import SpeechSegment


def scene_payload(analyzed: AnalyzedAsset, scene_index: int, *, split: bool = False) -> dict[str, Any]:
    """A scene's payload: everything, or (split) its own fields and `asset_id`."""
    if split:
        return {"asset_id": analyzed.asset.asset_id, **ScenePayload.scene_fields(analyzed, scene_index)}
    return ScenePayload.of(analyzed, scene_index).to_payload()


def media_payload(analyzed: AnalyzedAsset) -> dict[str, Any]:
    """An asset's media point: the fields every one of its points shares."""
    return AssetPayload.of_asset(analyzed).to_payload()


def speech_payload(analyzed: AnalyzedAsset, segment: SpeechSegment, *, split: bool = False) -> dict[str, Any]:
    """A speech segment's payload; `scene_index` is the scene it starts in."""
    starts_in = [s.index for s in analyzed.scenes if s.start_s <= segment.start_s]
    own = {**segment.to_payload(analyzed.asset.asset_id, analyzed.asset.uri, analyzed.asset.filename),
           "scene_index": starts_in[-1] if starts_in else 0}
    if split:
        return {k: v for k, v in own.items() if k not in ASSET_ONLY_FIELDS}
    return {**media_payload(analyzed), **own}


def joined(payload: dict[str, Any], media: dict[str, Any] | None) -> dict[str, Any]:
    """A point's payload with its asset's fields (a point's own values win: older points carry both)."""
    return {**media, **payload} if media else payload


def hit_from_point(payload: dict[str, Any], score: float) -> SearchHit:
    return ScenePayload.model_validate(payload).hit(score, payload)


def speech_hit(payload: dict[str, Any], score: float) -> SearchHit:
    """A transcription hit: a speech segment's own time range and words."""
    return SearchHit(
        asset_id=payload["asset_id"], uri=payload["uri"], filename=payload.get("filename", ""),
        media_type=payload.get("media_type", ""), scene_index=payload.get("scene_index", 0),
        segment_index=payload["segment_index"], start_s=payload["start_s"], end_s=payload["end_s"], score=score,
        transcript=payload["text"], payload=payload,
    )
