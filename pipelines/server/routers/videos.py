"""Indexed assets (/indexes/{id}/indexed-assets) and the deprecated /indexes/{id}/videos: the
videos of an index, with system and user metadata; update metadata; delete."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from typing import Any, List, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request, Response

from sceneline.pipelines.server.deps import (
    check_metadata_values,
    existing_index,
    existing_video,
    get_media,
    get_records,
    get_settings,
    media_url,
    thumbnail_url,
)
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.models import (
    Hls,
    IndexedAsset,
    IndexedAssetList,
    MetadataUpdate,
    SceneItem,
    SystemMetadata,
    TranscriptionItem,
    page_info,
    paged,
)
from sceneline.pipelines.server.records import READY, Records, VideoRow
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.transforms.store.scene_store import SceneStore

router = APIRouter(tags=["indexed assets"])
NUMERIC = ("duration", "fps", "width", "height", "size")


def video_view(row: VideoRow, request: Request) -> IndexedAsset:
    meta = {**(row.system_metadata or {}), "filename": row.filename, "size": row.size}
    return IndexedAsset(id=row.id, asset_id=row.asset_id, status=row.status, created_at=row.created_at,
                        updated_at=row.updated_at, indexed_at=row.indexed_at,
                        system_metadata=SystemMetadata(**{k: meta.get(k) for k in ("filename", *NUMERIC)}),
                        user_metadata=row.user_metadata or {},
                        hls=Hls(video_url=media_url(request, f"/v1.3/media/videos/{row.id}"),
                                status="COMPLETE" if row.status == READY else "PROCESSING"))


def transcript_items(row: VideoRow, settings: ServerSettings) -> list[TranscriptionItem]:
    """The video's speech segments (empty until it is ready, or when nothing was said)."""
    if row.status != READY or not row.asset_id:
        return []
    segments = SceneStore(settings.store_for(row.index_id)).speech_of(row.asset_id)
    return [TranscriptionItem(start=s.start_s, end=s.end_s, value=s.text) for s in segments]


def scene_items(row: VideoRow, request: Request, settings: ServerSettings) -> list[SceneItem]:
    """The video's scenes in order, each with its thumbnail (empty until it is ready)."""
    if row.status != READY or not row.asset_id:
        return []
    payloads = SceneStore(settings.store_for(row.index_id)).scenes_of(row.asset_id)
    return [SceneItem(start=p["start_s"], end=p["end_s"], thumbnail_url=thumbnail_url(request, settings,
                                                                                    p.get("thumbnail_uri")))
            for p in payloads]


def remove_video(row: VideoRow, records: Records, settings: ServerSettings, media: MediaRoot) -> None:
    """Delete a video: search stops returning it at once (its row goes first); its scenes go
    when no other upload of the same bytes in the index still uses them."""
    records.delete_video(row.id)
    if row.asset_id and records.live_users_of(row.index_id, row.asset_id) == 0:
        SceneStore(settings.store_for(row.index_id)).delete_asset(row.asset_id, reason=f"video {row.id} deleted")
    media.remove_video(row.path)


def _numeric_filters(request: Request) -> dict[str, tuple[Optional[float], Optional[float]]]:
    """`duration=10`, or `duration[gte]=5&duration[lte]=20` (and fps, width, height, size)."""
    bounds: dict[str, list[Optional[float]]] = {}
    for key, value in request.query_params.multi_items():
        name, _, op = key.partition("[")
        if name not in NUMERIC:
            continue
        op = op.rstrip("]") or "eq"
        try:
            number = float(value)
        except ValueError as exc:
            raise ApiError(400, f"{key} must be a number, not {value!r}") from exc
        low, high = bounds.setdefault(name, [None, None])
        if op in ("eq", "gte", "gt"):
            low = number
        if op in ("eq", "lte", "lt"):
            high = number
        if op not in ("eq", "gte", "gt", "lte", "lt"):
            raise ApiError(400, f"{key}: unknown operator {op!r}; use gte or lte")
        bounds[name] = [low, high]
    return {k: (v[0], v[1]) for k, v in bounds.items()}


def _metadata_filters(request: Request) -> dict[str, str]:
    """`user_metadata[key]=value` (how the SDK sends its user_metadata filter)."""
    found = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("user_metadata[") and key.endswith("]"):
            found[key[len("user_metadata["):-1]] = value
    return found


def _metadata_equal(stored: Any, text: str) -> bool:
    if isinstance(stored, bool):
        return text.lower() == str(stored).lower()
    if isinstance(stored, (int, float)):
        try:
            return float(text) == float(stored)
        except ValueError:
            return False
    return stored == text


def list_videos(index_id: str, request: Request, page: int, page_limit: int, sort_by: str, sort_option: str,
                status: Optional[List[str]], filename: Optional[str], records: Records) -> IndexedAssetList:
    existing_index(records, index_id)
    rows = records.videos(index_id)
    wanted_status = {s for item in status or [] for s in item.split(",") if s}
    numeric, metadata = _numeric_filters(request), _metadata_filters(request)

    def keep(r: VideoRow) -> bool:
        meta = {**r.system_metadata, "size": r.size}
        for name, (low, high) in numeric.items():
            value = meta.get(name)
            if value is None or (low is not None and value < low) or (high is not None and value > high):
                return False
        return ((not wanted_status or r.status in wanted_status) and (filename is None or r.filename == filename)
                and all(_metadata_equal(r.user_metadata.get(k), v) for k, v in metadata.items()))

    rows = [r for r in rows if keep(r)]
    rows.sort(key=lambda r: (getattr(r, sort_by) or "", r.id), reverse=sort_option == "desc")
    return IndexedAssetList(data=[video_view(r, request) for r in paged(rows, page, page_limit)],
                            page_info=page_info(len(rows), page, page_limit))


def _patch(row: VideoRow, body: MetadataUpdate, records: Records) -> None:
    merged = {**row.user_metadata, **check_metadata_values(body.user_metadata)}
    records.update_video(row.id, user_metadata={k: v for k, v in merged.items() if v is not None})


for prefix in ("indexed-assets", "videos"):
    deprecated = prefix == "videos"

    @router.get(f"/indexes/{{index_id}}/{prefix}", response_model=IndexedAssetList, deprecated=deprecated,
                name=f"list_{prefix}")
    def _list(index_id: str, request: Request, page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
              sort_by: Literal["created_at", "updated_at"] = "created_at",
              sort_option: Literal["asc", "desc"] = "desc", status: Optional[List[str]] = Query(None),
              filename: Optional[str] = None, records: Records = Depends(get_records)) -> IndexedAssetList:
        return list_videos(index_id, request, page, page_limit, sort_by, sort_option, status, filename, records)

    @router.get(f"/indexes/{{index_id}}/{prefix}/{{video_id}}", response_model=IndexedAsset,
                deprecated=deprecated, name=f"retrieve_{prefix}")
    def _retrieve(index_id: str, video_id: str, request: Request,
                  transcription: bool = Query(False, description="Include the words said, with their times."),
                  scenes: bool = Query(False, description="sceneline: include the video's scenes."),
                  records: Records = Depends(get_records),
                  settings: ServerSettings = Depends(get_settings)) -> IndexedAsset:
        row = existing_video(records, index_id, video_id)
        view = video_view(row, request)
        if transcription:
            view.transcription = transcript_items(row, settings)
        if scenes:
            view.scenes = scene_items(row, request, settings)
        return view

    @router.patch(f"/indexes/{{index_id}}/{prefix}/{{video_id}}", status_code=204, response_class=Response,
                  deprecated=deprecated, name=f"update_{prefix}")
    def _update(index_id: str, video_id: str, body: MetadataUpdate,
                records: Records = Depends(get_records)) -> Response:
        _patch(existing_video(records, index_id, video_id), body, records)
        return Response(status_code=204)

    @router.delete(f"/indexes/{{index_id}}/{prefix}/{{video_id}}", status_code=204, response_class=Response,
                   deprecated=deprecated, name=f"delete_{prefix}")
    def _delete(index_id: str, video_id: str, records: Records = Depends(get_records),
                settings: ServerSettings = Depends(get_settings), media: MediaRoot = Depends(get_media)) -> Response:
        remove_video(existing_video(records, index_id, video_id), records, settings, media)
        return Response(status_code=204)
