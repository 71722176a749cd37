"""The API's bodies in TwelveLabs v1.3 shapes (field names and `_id` as the official SDK parses
them); FastAPI publishes them as the OpenAPI schema at /openapi.json."""

# No `from __future__ import annotations`: FastAPI reads these annotations as objects.
from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

MetadataValue = Union[str, int, float, bool, None]
# TwelveLabs' model names: accepted and recorded; sceneline maps them onto its configured models.
MODEL_NAMES = ("marengo2.7", "marengo3.0", "pegasus1.2", "pegasus1.5")
MODEL_OPTIONS = ("visual", "audio", "transcription")


class Strict(BaseModel):
    """Request bodies: unknown fields are an error (a 400 saying which)."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class IndexModel(Strict):
    model_name: Literal["marengo2.7", "marengo3.0", "pegasus1.2", "pegasus1.5"]
    model_options: List[Literal["visual", "audio", "transcription"]] = Field(min_length=1)


class IndexCreate(Strict):
    index_name: str = Field(min_length=1, max_length=200)
    models: List[IndexModel] = Field(min_length=1)
    addons: Optional[List[str]] = None


class IndexUpdate(Strict):
    index_name: str = Field(min_length=1, max_length=200)


class IndexModelInfo(Answer):
    model_name: str
    model_options: List[str]


class Index(Answer):
    id: str = Field(alias="_id")
    index_name: str
    models: List[IndexModelInfo]
    addons: List[str] = []
    video_count: int = 0
    total_duration: float = 0.0
    created_at: str
    updated_at: str
    expires_at: Optional[str] = None


class Created(Answer):
    id: str = Field(alias="_id")


class PageInfo(Answer):
    limit_per_page: int
    page: int
    total_page: int
    total_results: int


class IndexList(Answer):
    data: List[Index]
    page_info: PageInfo


class TaskCreated(Answer):
    id: str = Field(alias="_id")
    video_id: str


class TaskSystemMetadata(Answer):
    filename: Optional[str] = None
    duration: Optional[float] = None
    width: Optional[int] = None
    height: Optional[int] = None


class Hls(Answer):
    video_url: Optional[str] = None
    thumbnail_urls: List[str] = []
    status: Optional[str] = None


class Task(Answer):
    id: str = Field(alias="_id")
    video_id: str
    index_id: str
    status: str
    created_at: str
    updated_at: str
    system_metadata: TaskSystemMetadata
    hls: Optional[Hls] = None
    # sceneline: why a task failed (TwelveLabs clients ignore fields they do not know).
    error: Optional[str] = None


class TaskList(Answer):
    data: List[Task]
    page_info: PageInfo


class SystemMetadata(Answer):
    filename: Optional[str] = None
    duration: Optional[float] = None
    fps: Optional[float] = None
    width: Optional[int] = None
    height: Optional[int] = None
    size: Optional[float] = None


class TranscriptionItem(Answer):
    start: float
    end: float
    value: str


class SceneItem(Answer):
    """sceneline: one scene of a video (TwelveLabs clients ignore fields they do not know)."""

    start: float
    end: float
    thumbnail_url: Optional[str] = None


class IndexedAsset(Answer):
    id: str = Field(alias="_id")
    asset_id: Optional[str] = None
    status: str
    created_at: str
    updated_at: str
    indexed_at: Optional[str] = None
    system_metadata: SystemMetadata
    user_metadata: Optional[Dict[str, MetadataValue]] = None
    hls: Optional[Hls] = None
    transcription: Optional[List[TranscriptionItem]] = None  # with ?transcription=true
    scenes: Optional[List[SceneItem]] = None  # sceneline, with ?scenes=true: the video's scenes in order


class IndexedAssetList(Answer):
    data: List[IndexedAsset]
    page_info: PageInfo


class MetadataUpdate(Strict):
    user_metadata: Dict[str, MetadataValue]


class SearchClip(Answer):
    start: float
    end: float
    rank: int
    score: float  # sceneline: the similarity (or fused rank score) behind the rank
    thumbnail_url: Optional[str] = None
    video_id: str
    transcription: Optional[str] = None
    user_metadata: Optional[Dict[str, MetadataValue]] = None


class SearchItem(Answer):
    # group_by=clip: one clip; group_by=video: `id` and its `clips`.
    start: Optional[float] = None
    end: Optional[float] = None
    rank: Optional[int] = None
    score: Optional[float] = None
    thumbnail_url: Optional[str] = None
    video_id: Optional[str] = None
    transcription: Optional[str] = None
    id: Optional[str] = None
    user_metadata: Optional[Dict[str, MetadataValue]] = None
    clips: Optional[List[SearchClip]] = None


class SearchPageInfo(Answer):
    limit_per_page: int
    total_results: int
    page_expires_at: Optional[str] = None
    next_page_token: Optional[str] = None
    prev_page_token: Optional[str] = None


class SearchPool(Answer):
    total_count: int
    total_duration: float
    index_id: str


class SearchResults(Answer):
    data: List[SearchItem]
    page_info: SearchPageInfo
    search_pool: SearchPool


def page_info(total: int, page: int, per_page: int) -> PageInfo:
    return PageInfo(limit_per_page=per_page, page=page, total_results=total,
                    total_page=max(1, -(-total // per_page)))


def paged(items: List[Any], page: int, per_page: int) -> List[Any]:
    start = (page - 1) * per_page
    return items[start:start + per_page]
