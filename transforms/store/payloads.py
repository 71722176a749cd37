"""Scene payloads: what the index stores with each scene, and a search hit read back from one."""

from __future__ import annotations

from typing import Any

from sceneline.schemas import AnalyzedAsset, SearchHit


def scene_payload(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
    a, p, s = analyzed.asset, analyzed.probe, analyzed.scenes[scene_index]
    return {
        "asset_id": a.asset_id,
        "uri": a.uri,
        "filename": a.filename,
        "media_type": a.media_type.value,
        "scene_index": s.index,
        "scene_count": len(analyzed.scenes),
        "start_s": s.start_s,
        "end_s": s.end_s,
        "start_frame": s.start_frame,
        "end_frame": s.end_frame,
        "transition_in": s.transition_in.value,
        "keyframe_s": [k.time_s for k in s.keyframes],
        "thumbnail_uri": s.thumbnail_uri,
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
        "models": analyzed.models,
        **s.enrichment,
    }


def hit_from_point(payload: dict[str, Any], score: float) -> SearchHit:
    return SearchHit(
        asset_id=payload["asset_id"], uri=payload["uri"], filename=payload.get("filename", ""),
        media_type=payload.get("media_type", ""), scene_index=payload["scene_index"],
        start_s=payload["start_s"], end_s=payload["end_s"], score=score,
        thumbnail_uri=payload.get("thumbnail_uri"), payload=payload,
        description=payload.get("description"), tags=payload.get("tags") or [],
        visible_text=payload.get("visible_text"), text_regions=payload.get("text_regions") or [],
    )
