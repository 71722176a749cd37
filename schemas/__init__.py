"""Data contracts shared by every stage: assets, scenes, failures, search, and the Qdrant layout."""

from sceneline.schemas.assets import (
    AssetRecord,
    AssetStatus,
    AudioStreamInfo,
    InputFile,
    MediaAsset,
    MediaType,
    ProbeInfo,
)
from sceneline.schemas.failures import Failure, FailureStage, MediaError
from sceneline.schemas.ids import asset_id_for_content, asset_id_for_object, scene_point_id
from sceneline.schemas.scenes import AnalyzedAsset, Keyframe, Scene
from sceneline.schemas.search import SearchGroup, SearchHit, SearchPage, SearchRequest

__all__ = [
    "AnalyzedAsset",
    "AssetRecord",
    "AssetStatus",
    "AudioStreamInfo",
    "Failure",
    "FailureStage",
    "InputFile",
    "Keyframe",
    "MediaAsset",
    "MediaError",
    "MediaType",
    "ProbeInfo",
    "Scene",
    "SearchGroup",
    "SearchHit",
    "SearchPage",
    "SearchRequest",
    "asset_id_for_content",
    "asset_id_for_object",
    "scene_point_id",
]
