"""Where uploads go (`--media-root`), and who indexes them.

    a folder (default home/media)   LocalMediaRoot: files on this machine; the server's own
                                    workers index them (indexer.py)
    gs://BUCKET/PREFIX              BucketMediaRoot (bucket_media.py): objects in the bucket,
                                    `PREFIX/<index id>/<task id>/<name>`; the stream pipeline
                                    indexes them from the bucket's notifications (stream_follower.py)

The routers see one interface: save an upload (a task's video or an asset), place an asset in an
index, remove what a deleted video or asset leaves, and play a video back. Multipart uploads keep
their chunks on the media root too (multipart.py): `<folder>/multipart/<upload id>/<n>`, or objects
`PREFIX/.multipart/<upload id>/<n>.<md5>` in the bucket, where every replica of the server finds them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

from fastapi import Request, Response
from fastapi.responses import FileResponse

from sceneline.pipelines.server.bucket_media import BucketMediaRoot
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.settings import UPLOAD_CHUNK_BYTES, ServerSettings
from sceneline.pipelines.server.uploads import IterReader, SavedMedia, store_stream


class MediaRoot(Protocol):
    indexed_by_server: bool  # False: the stream pipeline indexes what lands here

    def start(self) -> None: ...

    def save_video(self, source: BinaryIO, filename: str, *, index_id: str, task_id: str, video_id: str,
                   max_bytes: int) -> SavedMedia: ...

    def save_asset(self, source: BinaryIO, filename: str, *, asset_id: str, max_bytes: int,
                   replace: bool = False) -> SavedMedia:
        """`replace`: the asset's file may exist already (a multipart upload joined again, by this
        server after a restart or by another replica, from the same chunks) and is replaced."""

    def add_to_index(self, asset: SavedMedia, *, index_id: str, video_id: str) -> SavedMedia: ...

    def remove_video(self, uri: str) -> None: ...

    def remove_asset(self, uri: str) -> None: ...

    def playback(self, uri: str, filename: str, request: Request) -> Response: ...

    def thumbnail(self, name: str) -> Response: ...

    def keep_chunk(self, part: Path, upload_id: str, chunk_index: int, etag: str) -> None:
        """Keep a received chunk (a part file on this machine, its MD5 `etag`) as the upload's copy of
        chunk `chunk_index`; a copy already kept under another etag stays until the upload ends."""

    def joined_chunks(self, upload_id: str, etags: list[str]) -> BinaryIO:
        """The chunks kept under these etags (chunk 1 first), read as one stream."""

    def remove_chunks(self, upload_id: str) -> None: ...


class LocalMediaRoot:
    """Uploads in a folder: `<video id>/<name>` for a task, `assets/<asset id>/<name>` for an asset."""

    indexed_by_server = True

    def __init__(self, folder: Path):
        self.folder = folder

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def _save(self, source: BinaryIO, folder: Path, filename: str, max_bytes: int) -> SavedMedia:
        stored = store_stream(source, folder, filename, max_bytes)
        return SavedMedia(str(stored.path), stored.path.name, stored.size, stored.sha256)

    def save_video(self, source: BinaryIO, filename: str, *, index_id: str, task_id: str, video_id: str,
                   max_bytes: int) -> SavedMedia:
        return self._save(source, self.folder / video_id, filename, max_bytes)

    def save_asset(self, source: BinaryIO, filename: str, *, asset_id: str, max_bytes: int,
                   replace: bool = False) -> SavedMedia:
        return self._save(source, self.folder / "assets" / asset_id, filename, max_bytes)

    def add_to_index(self, asset: SavedMedia, *, index_id: str, video_id: str) -> SavedMedia:
        return asset  # indexed where it lies

    def remove_video(self, uri: str) -> None:
        folder = Path(uri).parent
        if folder.parent == self.folder:  # the video's own folder (an asset's stays with the asset)
            shutil.rmtree(folder, ignore_errors=True)

    def remove_asset(self, uri: str) -> None:
        folder = Path(uri).parent
        if uri and folder.resolve().parent == (self.folder / "assets").resolve():  # the asset's own folder only
            shutil.rmtree(folder, ignore_errors=True)

    def playback(self, uri: str, filename: str, request: Request) -> Response:
        path = Path(uri)
        if not path.is_file() or not path.resolve().is_relative_to(self.folder.resolve()):
            raise ApiError(404, f"the file of {filename!r} is not on this server", code="video_not_exists")
        # FileResponse answers Range requests (206 with Content-Range), so players can seek.
        return FileResponse(path, filename=filename, content_disposition_type="inline")

    def thumbnail(self, name: str) -> Response:
        raise ApiError(404, f"no thumbnail {name!r}", code="resource_not_exists")  # only home/thumbnails has them

    def _chunks(self, upload_id: str) -> Path:
        return self.folder / "multipart" / upload_id  # multipart.chunk_folder checked the id's shape

    def keep_chunk(self, part: Path, upload_id: str, chunk_index: int, etag: str) -> None:
        # fsync, then rename over `<n>`: a re-sent chunk replaces the old copy in one step (the
        # upload's lock in multipart.py keeps a reported chunk from being replaced).
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, self._chunks(upload_id) / str(chunk_index))

    def joined_chunks(self, upload_id: str, etags: list[str]) -> BinaryIO:
        return IterReader(_read_files([self._chunks(upload_id) / str(n) for n in range(1, len(etags) + 1)]))

    def remove_chunks(self, upload_id: str) -> None:
        shutil.rmtree(self._chunks(upload_id), ignore_errors=True)


def _read_files(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as f:
            while piece := f.read(UPLOAD_CHUNK_BYTES):
                yield piece


def media_root_for(settings: ServerSettings) -> MediaRoot:
    root = settings.bucket_root
    return LocalMediaRoot(settings.media_root) if root is None else BucketMediaRoot(root)
