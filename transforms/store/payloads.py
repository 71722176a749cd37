"""Payloads: what the index stores with each scene and each speech segment, and a search hit
read back from one. Scenes go through the one declaration of their payload (schemas/payload.py)."""

from __future__ import annotations

from typing import Any

from sceneline.schemas import AnalyzedAsset, SearchHit
from sceneline.schemas.payload import ScenePayload
from sceneline.schemas.speech import SpeechSegment


def scene_payload(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
    return ScenePayload.of(analyzed, scene_index).to_payload()


def speech_payload(analyzed: AnalyzedAsset, segment: SpeechSegment) -> dict[str, Any]:
    """A speech segment's payload; `scene_index` is the scene it starts in."""
    starts_in = [s.index for s in analyzed.scenes if s.start_s <= segment.start_s]
    return {**ScenePayload.asset_fields(analyzed),
            **segment.to_payload(analyzed.asset.asset_id, analyzed.asset.uri, analyzed.asset.filename),
            "scene_index": starts_in[-1] if starts_in else 0}


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
