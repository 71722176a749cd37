"""Payloads: what the index stores with each scene and each speech segment, and a search hit
read back from one."""

from __future__ import annotations

from typing import Any

from sceneline.schemas import AnalyzedAsset, SearchHit
from sceneline.schemas.speech import SpeechSegment


def scene_payload(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
    s = analyzed.scenes[scene_index]
    return {
        **asset_fields(analyzed),
        "scene_index": s.index,
        "scene_count": len(analyzed.scenes),
        "start_s": s.start_s,
        "end_s": s.end_s,
        "start_frame": s.start_frame,
        "end_frame": s.end_frame,
        "transition_in": s.transition_in.value,
        "keyframe_s": [k.time_s for k in s.keyframes],
        "thumbnail_uri": s.thumbnail_uri,
        "models": analyzed.models,
        **s.enrichment,
    }


def asset_fields(analyzed: AnalyzedAsset) -> dict[str, Any]:
    """What scenes and speech segments both carry of their asset, so the same filters apply."""
    a, p = analyzed.asset, analyzed.probe
    return {
        "asset_id": a.asset_id,
        "uri": a.uri,
        "filename": a.filename,
        "media_type": a.media_type.value,
        # Asset-level fields at the top level, so filters read like TwelveLabs' ({"duration": ...}).
        "duration": p.duration_s,
        "width": p.display_width,
        "height": p.display_height,
        "fps": p.avg_fps,
        "codec": p.codec,
        "container": p.container,
        "size_bytes": a.size_bytes,
        "generation": a.generation,
        "metadata": a.user_metadata,
    }


def speech_payload(analyzed: AnalyzedAsset, segment: SpeechSegment) -> dict[str, Any]:
    """A speech segment's payload; `scene_index` is the scene it starts in."""
    starts_in = [s.index for s in analyzed.scenes if s.start_s <= segment.start_s]
    return {**asset_fields(analyzed), **segment.to_payload(analyzed.asset.asset_id, analyzed.asset.uri,
                                                           analyzed.asset.filename),
            "scene_index": starts_in[-1] if starts_in else 0}


def hit_from_point(payload: dict[str, Any], score: float) -> SearchHit:
    return SearchHit(
        asset_id=payload["asset_id"], uri=payload["uri"], filename=payload.get("filename", ""),
        media_type=payload.get("media_type", ""), scene_index=payload["scene_index"],
        start_s=payload["start_s"], end_s=payload["end_s"], score=score,
        thumbnail_uri=payload.get("thumbnail_uri"), payload=payload,
        description=payload.get("description"), tags=payload.get("tags") or [],
        visible_text=payload.get("visible_text"), text_regions=payload.get("text_regions") or [],
        transcript=payload.get("transcript"),
    )


def speech_hit(payload: dict[str, Any], score: float) -> SearchHit:
    """A transcription hit: a speech segment's own time range and words."""
    return SearchHit(
        asset_id=payload["asset_id"], uri=payload["uri"], filename=payload.get("filename", ""),
        media_type=payload.get("media_type", ""), scene_index=payload.get("scene_index", 0),
        segment_index=payload["segment_index"], start_s=payload["start_s"], end_s=payload["end_s"], score=score,
        transcript=payload["text"], payload=payload,
    )
