"""The analyze routes (pipelines/analyze_routes.py) over the server's videos: a TwelveLabs video
id (or its asset id) names a ready video of any index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sceneline.pipelines.analysis import AnswerCache, DEFAULT_CACHE_NAME, VideoNotFoundError
from sceneline.pipelines.analyze_routes import build_router
from sceneline.pipelines.server.records import READY, Records
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.transforms.models.generation import load_generator
from sceneline.transforms.store.scene_store import SceneStore

def router(settings: ServerSettings, records: Records) -> APIRouter:
    def locate(ref: str) -> tuple[Any, str]:
        row = records.video(ref) or next((r for r in records.videos() if r.asset_id == ref), None)
        if row is None or row.status != READY or not row.asset_id:
            state = f"is {row.status}" if row else "does not exist"
            raise VideoNotFoundError(f"video {ref} {state}; analysis needs an indexed (ready) video")
        return SceneStore(settings.store_for(row.index_id)), row.asset_id

    return build_router(locate, lambda: load_generator(settings.analyzer), settings=settings.analysis,
                        cache=AnswerCache(settings.home / DEFAULT_CACHE_NAME), reel_dir=str(settings.home / "reels"),
                        task_shelf=records.task_shelf())
