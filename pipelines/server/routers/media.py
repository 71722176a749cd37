"""Media served by sceneline: scene thumbnails, and each video, playable with HTTP Range requests."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from sceneline.pipelines.server.deps import get_media, get_records, get_settings
from sceneline.pipelines.server.errors import not_found
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.uploads import inside

router = APIRouter(tags=["media"])


@router.get("/media/videos/{video_id}", response_class=FileResponse)
def video_file(video_id: str, request: Request, records: Records = Depends(get_records),
               media: MediaRoot = Depends(get_media)) -> Response:
    """The video's file, from this machine or the bucket; Range requests get 206 parts, so players can seek."""
    row = records.video(video_id)
    if row is None:
        raise not_found("video", video_id)
    return media.playback(row.path, row.filename, request)


@router.get("/media/thumbnails/{path:path}", response_class=FileResponse)
def thumbnail(path: str, settings: ServerSettings = Depends(get_settings),
              media: MediaRoot = Depends(get_media)) -> Response:
    """A scene's thumbnail: from the server's thumbnails folder, or from the bucket media root's
    .thumbnails/ folder (where a stream with --thumbnails gs://BUCKET/PREFIX/.thumbnails writes)."""
    target = inside(settings.thumbnails, path)
    if target.is_file():
        return FileResponse(target, media_type="image/jpeg")
    return media.thumbnail(path)
