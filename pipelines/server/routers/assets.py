"""/assets: files uploaded once (a file or a URL), then indexed into any index with
POST /indexes/{id}/indexed-assets; user metadata PUT/PATCH/DELETE."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from pathlib import Path
from typing import Dict, List, Optional

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import Field

from sceneline.pipelines.server.deps import (
    check_metadata_values,
    existing_index,
    get_indexer,
    get_media,
    get_records,
    get_settings,
    only_fields,
    parse_json_object,
)
from sceneline.pipelines.server.errors import ApiError, not_found
from sceneline.pipelines.server.indexer import Indexing
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.models import Answer, MetadataValue, PageInfo, Strict, page_info, paged
from sceneline.pipelines.server.records import PENDING, PROCESSING, READY, AssetRow, Records, VideoRow, new_id
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.uploads import SavedMedia, read_url, safe_filename

router = APIRouter(tags=["assets"])
ASSET_FIELDS = ("method", "file", "url", "filename", "enable_hls", "enable_thumbnail", "user_metadata")


class AssetError(Answer):
    message: str


class Asset(Answer):
    id: str = Field(alias="_id")
    method: str
    status: str
    filename: str
    file_type: str
    created_at: str
    user_metadata: Dict[str, MetadataValue] = {}
    size: Optional[int] = None  # once `ready`
    error: Optional[AssetError] = None  # why it is `failed`


class AssetList(Answer):
    data: List[Asset]
    page_info: PageInfo


class AssetMetadata(Strict):
    user_metadata: Dict[str, MetadataValue]


class IndexAssetRequest(Strict):
    asset_id: str
    enable_video_stream: Optional[bool] = None
    user_metadata: Optional[Dict[str, MetadataValue]] = None


class IndexedAssetCreated(Answer):
    id: str = Field(alias="_id")
    asset_id: str


def asset_view(row: AssetRow) -> Asset:
    return Asset(id=row.id, method=row.method, status=row.status, filename=row.filename,
                 file_type=Path(row.filename).suffix.lstrip(".") or "video", created_at=row.created_at,
                 user_metadata=row.user_metadata, size=row.size if row.status == READY else None,
                 error=AssetError(message=row.error) if row.error else None)


def existing_asset(records: Records, asset_id: str) -> AssetRow:
    row = records.asset(asset_id)
    if row is None:
        raise not_found("asset", asset_id)
    return row


async def _asset_fields(request: Request) -> None:
    await only_fields(request, ASSET_FIELDS)


@router.post("/assets", status_code=201, response_model=Asset, dependencies=[Depends(_asset_fields)])
def create_asset(method: str = Form(...), file: Optional[UploadFile] = File(None), url: Optional[str] = Form(None),
                 filename: Optional[str] = Form(None), user_metadata: Optional[str] = Form(None),
                 enable_hls: Optional[bool] = Form(None), enable_thumbnail: Optional[bool] = Form(None),
                 records: Records = Depends(get_records), settings: ServerSettings = Depends(get_settings),
                 media: MediaRoot = Depends(get_media)) -> Asset:
    if method not in ("direct", "url"):
        raise ApiError(400, f"method must be direct or url (large files: POST /assets/multipart-uploads), "
                            f"not {method!r}")
    if method == "direct" and file is None:
        raise ApiError(400, "method=direct needs a file", code="parameter_not_provided")
    if method == "url" and not url:
        raise ApiError(400, "method=url needs a url", code="parameter_not_provided")
    metadata = check_metadata_values(parse_json_object(user_metadata, "user_metadata") or {})
    asset_id = new_id()
    if method == "direct":
        saved = media.save_asset(file.file, safe_filename(filename or file.filename, "asset"), asset_id=asset_id,
                                 max_bytes=settings.max_upload_bytes)
    else:
        with read_url(url) as (body, name):
            saved = media.save_asset(body, name, asset_id=asset_id, max_bytes=settings.max_upload_bytes)
    row = records.add_asset(AssetRow(id=asset_id, method=method, status=READY, filename=saved.filename,
                                     path=saved.uri, sha256=saved.sha256, size=saved.size, user_metadata=metadata))
    return asset_view(row)


@router.get("/assets", response_model=AssetList)
def list_assets(page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
                asset_ids: Optional[List[str]] = Query(None), filename: Optional[str] = None,
                records: Records = Depends(get_records)) -> AssetList:
    rows = records.assets()
    if asset_ids:
        rows = [r for r in rows if r.id in set(asset_ids)]
    if filename:
        rows = [r for r in rows if filename.lower() in r.filename.lower()]
    return AssetList(data=[asset_view(r) for r in paged(rows, page, page_limit)],
                     page_info=page_info(len(rows), page, page_limit))


@router.get("/assets/{asset_id}", response_model=Asset)
def retrieve_asset(asset_id: str, records: Records = Depends(get_records)) -> Asset:
    return asset_view(existing_asset(records, asset_id))


@router.delete("/assets/{asset_id}", status_code=204, response_class=Response)
def delete_asset(asset_id: str, records: Records = Depends(get_records),
                 media: MediaRoot = Depends(get_media)) -> Response:
    row = existing_asset(records, asset_id)
    if row.status == PROCESSING:
        raise ApiError(409, f"asset {asset_id} is still being uploaded (multipart); delete it once it is ready or "
                            f"failed", code="asset_in_use")
    if any(v.path == row.path for v in records.videos()):
        raise ApiError(409, f"asset {asset_id} is indexed; delete its indexed assets first", code="asset_in_use")
    records.delete_asset(asset_id)
    media.remove_asset(row.path)
    return Response(status_code=204)


@router.put("/assets/{asset_id}/user-metadata", status_code=204, response_class=Response)
def replace_asset_metadata(asset_id: str, body: AssetMetadata, records: Records = Depends(get_records)) -> Response:
    existing_asset(records, asset_id)
    records.set_asset_metadata(asset_id, check_metadata_values(body.user_metadata))
    return Response(status_code=204)


@router.patch("/assets/{asset_id}/user-metadata", status_code=204, response_class=Response)
def update_asset_metadata(asset_id: str, body: AssetMetadata, records: Records = Depends(get_records)) -> Response:
    row = existing_asset(records, asset_id)
    merged = {**row.user_metadata, **check_metadata_values(body.user_metadata)}
    records.set_asset_metadata(asset_id, {k: v for k, v in merged.items() if v is not None})
    return Response(status_code=204)


@router.delete("/assets/{asset_id}/user-metadata", status_code=204, response_class=Response)
def delete_asset_metadata(asset_id: str, records: Records = Depends(get_records)) -> Response:
    existing_asset(records, asset_id)
    records.set_asset_metadata(asset_id, {})
    return Response(status_code=204)


@router.post("/indexes/{index_id}/indexed-assets", status_code=202, response_model=IndexedAssetCreated)
def index_asset(index_id: str, body: IndexAssetRequest, records: Records = Depends(get_records),
                media: MediaRoot = Depends(get_media),
                indexer: Indexing = Depends(get_indexer)) -> IndexedAssetCreated:
    """Index an uploaded asset: a new video of the index (its id is also the task's)."""
    existing_index(records, index_id)
    asset = existing_asset(records, body.asset_id)
    if asset.status != READY:
        raise ApiError(400, f"asset {asset.id} is {asset.status}, not ready: only ready assets can be indexed"
                       + (f" ({asset.error})" if asset.error else ""), code="asset_not_ready")
    metadata = {**asset.user_metadata, **check_metadata_values(body.user_metadata or {})}
    video_id = new_id()
    placed = media.add_to_index(SavedMedia(uri=asset.path, filename=asset.filename, size=asset.size,
                                           sha256=asset.sha256), index_id=index_id, video_id=video_id)
    indexer.accept(VideoRow(id=video_id, task_id=video_id, index_id=index_id, status=PENDING, filename=asset.filename,
                            path=placed.uri, sha256=asset.sha256, asset_id=placed.asset_id, size=asset.size,
                            user_metadata=metadata))
    return IndexedAssetCreated(id=video_id, asset_id=asset.id)
