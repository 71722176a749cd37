"""/tasks: upload a video (a file or a URL) into an index, and follow its indexing."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from typing import List, Literal, Optional

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from sceneline.pipelines.server.deps import (
    check_metadata_values,
    existing_index,
    get_indexer,
    get_media,
    get_records,
    get_settings,
    media_url,
    only_fields,
    parse_json_object,
)
from sceneline.pipelines.server.errors import ApiError, not_found
from sceneline.pipelines.server.indexer import Indexing
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.models import Hls, Task, TaskCreated, TaskList, TaskSystemMetadata, page_info, paged
from sceneline.pipelines.server.records import PENDING, READY, Records, VideoRow, new_id
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.uploads import read_url, safe_filename

router = APIRouter(tags=["tasks"])

TASK_FIELDS = ("index_id", "video_file", "video_url", "enable_video_stream", "user_metadata")


def task_view(row: VideoRow, request: Request) -> Task:
    meta = row.system_metadata or {}
    return Task(id=row.task_id, video_id=row.id, index_id=row.index_id, status=row.status,
                created_at=row.created_at, updated_at=row.updated_at, error=row.error,
                system_metadata=TaskSystemMetadata(filename=row.filename, duration=meta.get("duration"),
                                                   width=meta.get("width"), height=meta.get("height")),
                hls=Hls(video_url=media_url(request, f"/v1.3/media/videos/{row.id}"),
                        status="COMPLETE" if row.status == READY else "PROCESSING"))


async def _task_fields(request: Request) -> None:
    await only_fields(request, TASK_FIELDS)


@router.post("/tasks", response_model=TaskCreated, dependencies=[Depends(_task_fields)])
def create_task(request: Request, index_id: str = Form(...), video_file: Optional[UploadFile] = File(None),
                video_url: Optional[str] = Form(None), enable_video_stream: Optional[bool] = Form(None),
                user_metadata: Optional[str] = Form(None), records: Records = Depends(get_records),
                settings: ServerSettings = Depends(get_settings), media: MediaRoot = Depends(get_media),
                indexer: Indexing = Depends(get_indexer)) -> TaskCreated:
    existing_index(records, index_id)
    if (video_file is None) == (not video_url):
        raise ApiError(400, "give exactly one of video_file and video_url", code="parameter_not_provided")
    metadata = check_metadata_values(parse_json_object(user_metadata, "user_metadata") or {})
    task_id, video_id = new_id(), new_id()
    place = {"index_id": index_id, "task_id": task_id, "video_id": video_id, "max_bytes": settings.max_upload_bytes}
    if video_file is not None:
        saved = media.save_video(video_file.file, safe_filename(video_file.filename, fallback="video"), **place)
    else:
        with read_url(video_url) as (body, name):
            saved = media.save_video(body, name, **place)
    indexer.accept(VideoRow(id=video_id, task_id=task_id, index_id=index_id, status=PENDING, filename=saved.filename,
                            path=saved.uri, sha256=saved.sha256, asset_id=saved.asset_id, size=saved.size,
                            user_metadata=metadata))
    return TaskCreated(id=task_id, video_id=video_id)


def _range_ok(value: Optional[float], wanted: Optional[float]) -> bool:
    return wanted is None or (value is not None and abs(value - wanted) < 1e-6)


@router.get("/tasks", response_model=TaskList)
def list_tasks(request: Request, page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
               sort_by: Literal["created_at", "updated_at"] = "created_at",
               sort_option: Literal["asc", "desc"] = "desc", index_id: Optional[str] = None,
               status: Optional[List[str]] = Query(None), filename: Optional[str] = None,
               duration: Optional[float] = None, width: Optional[int] = None, height: Optional[int] = None,
               created_at: Optional[str] = None, updated_at: Optional[str] = None,
               records: Records = Depends(get_records)) -> TaskList:
    rows = records.videos(index_id)
    wanted_status = {s for item in status or [] for s in item.split(",") if s}
    rows = [r for r in rows
            if (not wanted_status or r.status in wanted_status) and (filename is None or r.filename == filename)
            and _range_ok(r.system_metadata.get("duration"), duration)
            and _range_ok(r.system_metadata.get("width"), width) and _range_ok(r.system_metadata.get("height"), height)
            and (created_at is None or r.created_at.startswith(created_at))
            and (updated_at is None or r.updated_at.startswith(updated_at))]
    rows.sort(key=lambda r: (getattr(r, sort_by), r.task_id), reverse=sort_option == "desc")
    return TaskList(data=[task_view(r, request) for r in paged(rows, page, page_limit)],
                    page_info=page_info(len(rows), page, page_limit))


@router.get("/tasks/{task_id}", response_model=Task)
def retrieve_task(task_id: str, request: Request, records: Records = Depends(get_records)) -> Task:
    row = records.task(task_id)
    if row is None:
        raise not_found("task", task_id)
    return task_view(row, request)


@router.delete("/tasks/{task_id}", status_code=204, response_class=Response)
def delete_task(task_id: str, records: Records = Depends(get_records),
                settings: ServerSettings = Depends(get_settings), media: MediaRoot = Depends(get_media)) -> Response:
    from sceneline.pipelines.server.routers.videos import remove_video

    row = records.task(task_id)
    if row is None:
        raise not_found("task", task_id)
    remove_video(row, records, settings, media)
    return Response(status_code=204)
