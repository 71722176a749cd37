"""Media served by sceneline: scene thumbnails, and each video, playable with HTTP Range requests."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from sceneline.pipelines.server.deps import get_records, get_settings
from sceneline.pipelines.server.errors import ApiError, not_found
from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.uploads import inside

router = APIRouter(tags=["media"])


@router.get("/media/videos/{video_id}", response_class=FileResponse)
def video_file(video_id: str, records: Records = Depends(get_records),
               settings: ServerSettings = Depends(get_settings)) -> FileResponse:
    row = records.video(video_id)
    if row is None:
        raise not_found("video", video_id)
    path = Path(row.path)
    if not path.is_file() or not path.resolve().is_relative_to(settings.media_root.resolve()):
        raise ApiError(404, f"the file of video {video_id} is not on this server", code="video_not_exists")
    # FileResponse answers Range requests (206 with Content-Range), so players can seek.
    return FileResponse(path, filename=row.filename, content_disposition_type="inline")


@router.get("/media/thumbnails/{path:path}", response_class=FileResponse)
def thumbnail(path: str, settings: ServerSettings = Depends(get_settings)) -> FileResponse:
    target = inside(settings.thumbnails, path)
    if not target.is_file():
        raise ApiError(404, f"no thumbnail {path!r}", code="resource_not_exists")
    return FileResponse(target, media_type="image/jpeg")
