"""/indexes: create, list, retrieve, rename and delete indexes."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from typing import Literal, Optional

from fastapi import APIRouter, Depends, Query, Response

from sceneline.pipelines.server.deps import existing_index, get_media, get_records, get_settings
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.models import Created, Index, IndexCreate, IndexList, IndexUpdate, page_info, paged
from sceneline.pipelines.server.records import READY, IndexRow, Records
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.transforms.store.scene_store import SceneStore

router = APIRouter(tags=["indexes"])


def index_view(row: IndexRow, records: Records) -> Index:
    ready = records.videos(row.id, status=READY)
    return Index(id=row.id, index_name=row.name, models=row.models, addons=row.addons, video_count=len(ready),
                 total_duration=sum(v.system_metadata.get("duration") or 0.0 for v in ready),
                 created_at=row.created_at, updated_at=row.updated_at)


@router.post("/indexes", status_code=201, response_model=Created)
def create_index(body: IndexCreate, records: Records = Depends(get_records)) -> Created:
    if records.index_named(body.index_name) is not None:
        raise ApiError(409, f"an index named {body.index_name!r} exists", code="index_name_already_exists")
    row = records.add_index(body.index_name, [m.model_dump() for m in body.models], body.addons or [])
    return Created(id=row.id)


@router.get("/indexes", response_model=IndexList)
def list_indexes(page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
                 sort_by: Literal["created_at", "updated_at"] = "created_at",
                 sort_option: Literal["asc", "desc"] = "desc", index_name: Optional[str] = None,
                 model_options: Optional[str] = None, model_family: Optional[str] = None,
                 records: Records = Depends(get_records)) -> IndexList:
    rows = records.indexes()
    if index_name:
        rows = [r for r in rows if index_name.lower() in r.name.lower()]
    if model_options:
        wanted = {o.strip() for o in model_options.split(",") if o.strip()}
        rows = [r for r in rows if wanted <= r.model_options()]
    if model_family:
        rows = [r for r in rows if any(m["model_name"].startswith(model_family) for m in r.models)]
    rows.sort(key=lambda r: (getattr(r, sort_by), r.id), reverse=sort_option == "desc")
    return IndexList(data=[index_view(r, records) for r in paged(rows, page, page_limit)],
                     page_info=page_info(len(rows), page, page_limit))


@router.get("/indexes/{index_id}", response_model=Index)
def retrieve_index(index_id: str, records: Records = Depends(get_records)) -> Index:
    return index_view(existing_index(records, index_id), records)


@router.put("/indexes/{index_id}", status_code=204, response_class=Response)
def update_index(index_id: str, body: IndexUpdate, records: Records = Depends(get_records)) -> Response:
    existing_index(records, index_id)
    other = records.index_named(body.index_name)
    if other is not None and other.id != index_id:
        raise ApiError(409, f"an index named {body.index_name!r} exists", code="index_name_already_exists")
    records.rename_index(index_id, body.index_name)
    return Response(status_code=204)


@router.delete("/indexes/{index_id}", status_code=204, response_class=Response)
def delete_index(index_id: str, records: Records = Depends(get_records),
                 settings: ServerSettings = Depends(get_settings), media: MediaRoot = Depends(get_media)) -> Response:
    existing_index(records, index_id)
    store = SceneStore(settings.store_for(index_id))
    videos = records.videos(index_id)
    records.delete_index(index_id)  # first: search stops seeing the videos at once
    for asset_id in {v.asset_id for v in videos if v.asset_id}:
        store.delete_asset(asset_id, reason=f"index {index_id} deleted")
    for video in videos:  # and their files (an indexed asset's own file stays with the asset)
        media.remove_video(video.path)
    return Response(status_code=204)
