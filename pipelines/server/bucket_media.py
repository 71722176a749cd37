"""Uploads into a gs://BUCKET/PREFIX media root, with google-cloud-storage.

Every upload is a resumable upload fed chunk by chunk as the request body is read (never held
whole in memory), created only if the name is new and finalized only once the whole body passed
the checks (uploads.CheckedUpload): a refused or broken upload is cancelled and leaves no object,
so the stream never sees it. The object's generation, read back once it exists, gives the asset
id the stream pipeline records its status under (schemas/ids.asset_id_for_object).

    PREFIX/<index id>/<task id>/<name>   a video of an API index (the stream indexes it there)
    PREFIX/.assets/<asset id>/<name>     an asset not yet in an index (hidden: the stream skips it)
    PREFIX/.thumbnails/<asset id>/N.jpg  thumbnails, when the stream writes them there
    PREFIX/.multipart/<upload id>/<n>.<md5>
                                         chunks of a multipart upload, named by their bytes' MD5 (their
                                         ETag): any replica of the server joins them, and a chunk sent
                                         again with other bytes never replaces the copy reported

Playback reads the object back in ranges, so a player can seek without the server holding it.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import threading
from pathlib import Path
from typing import BinaryIO, Iterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.uploads import CheckedUpload, IterReader, SavedMedia
from sceneline.schemas.bucket_root import ASSETS_FOLDER, MULTIPART_FOLDER, THUMBNAILS_FOLDER, BucketRoot
from sceneline.schemas.ids import asset_id_for_object

# A resumable upload sends this much per request (a multiple of 256 KiB, as Cloud Storage asks);
# it is also the most of an upload the server holds at once.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
PLAYBACK_CHUNK_BYTES = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a `Range: bytes=A-B` header asks for (None: the whole object);
    a range that cannot be served is a 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or not (match[1] or match[2]):
        raise ApiError(416, f"unsupported Range {header!r}; use one range, bytes=START-END",
                       code="range_not_satisfiable")
    if match[1]:
        first, last = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
    else:  # bytes=-N: the last N bytes
        first, last = max(size - int(match[2]), 0), size - 1
    if first >= size or first > last:
        raise ApiError(416, f"Range {header!r} lies outside the {size} bytes of the video",
                       code="range_not_satisfiable")
    return first, last


@contextlib.contextmanager
def bucket_trouble(root: BucketRoot) -> Iterator[None]:
    """Cloud Storage refusing or failing a write (a missing bucket, no permission, an outage) is the
    server's trouble, not the client's: a 503 that says so, never a 500 with a traceback."""
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.storage.exceptions import InvalidResponse
    from requests import RequestException

    try:
        yield
    except (GoogleAPICallError, GoogleAuthError, InvalidResponse, RequestException) as exc:
        raise ApiError(503, f"the media bucket {root.uri} could not take the upload: {exc}",
                       code="media_storage_unavailable") from exc


class BucketMediaRoot:
    indexed_by_server = False  # `sceneline stream --api-media-root` indexes the bucket's uploads

    def __init__(self, root: BucketRoot):
        self.root = root
        self._client = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._bucket()  # credentials are looked up now, not on the first upload

    def _bucket(self):
        with self._lock:
            if self._client is None:
                from google.cloud import storage

                # Under STORAGE_EMULATOR_HOST (tests, local trials) the client goes anonymous.
                self._client = storage.Client()
            return self._client.bucket(self.root.bucket)

    def _blob(self, uri: str, generation: int | None = None):
        head = f"gs://{self.root.bucket}/"
        if not uri.startswith(head):
            raise ApiError(404, f"{uri!r} is not in this server's bucket", code="video_not_exists")
        return self._bucket().blob(uri[len(head):], generation=generation)

    def _upload(self, source: BinaryIO, max_bytes: int, *parts: str, replace: bool = False) -> SavedMedia:
        blob = self._bucket().blob(self.root.object_name(*parts))
        upload = CheckedUpload(source, max_bytes)
        with bucket_trouble(self.root):
            # if_generation_match=0: a name already taken is an error, never an overwrite (unless
            # `replace`). An exception inside the block cancels the resumable upload (BlobWriter.__exit__).
            with blob.open("wb", chunk_size=UPLOAD_CHUNK_BYTES, if_generation_match=None if replace else 0,
                           content_type="application/octet-stream") as out:
                for chunk in upload:
                    out.write(chunk)
            blob.reload()  # the writer does not report the generation it made
        return SavedMedia(uri=self.root.object_uri(*parts), filename=parts[-1], size=upload.size,
                          sha256=upload.sha256,
                          asset_id=asset_id_for_object(self.root.bucket, blob.name, blob.generation))

    def save_video(self, source: BinaryIO, filename: str, *, index_id: str, task_id: str, video_id: str,
                   max_bytes: int) -> SavedMedia:
        return self._upload(source, max_bytes, index_id, task_id, filename)

    def save_asset(self, source: BinaryIO, filename: str, *, asset_id: str, max_bytes: int,
                   replace: bool = False) -> SavedMedia:
        return self._upload(source, max_bytes, ASSETS_FOLDER, asset_id, filename, replace=replace)

    def add_to_index(self, asset: SavedMedia, *, index_id: str, video_id: str) -> SavedMedia:
        """A copy of the asset in the index's folder (made inside Cloud Storage): its upload event
        has the stream index it into that index."""
        source = self._blob(asset.uri)
        name = self.root.object_name(index_id, video_id, asset.filename)
        with bucket_trouble(self.root):
            copied = self._bucket().copy_blob(source, self._bucket(), name, if_generation_match=0)
        return SavedMedia(uri=self.root.object_uri(index_id, video_id, asset.filename), filename=asset.filename,
                          size=asset.size, sha256=asset.sha256,
                          asset_id=asset_id_for_object(self.root.bucket, name, copied.generation))

    def _delete(self, uri: str) -> None:
        from google.api_core.exceptions import NotFound

        if not uri.startswith(f"gs://{self.root.bucket}/"):
            return  # never reached the bucket (a multipart asset that failed before its file was joined)
        try:
            self._blob(uri).delete()  # the stream hears of it too, and records the asset deleted
        except NotFound:
            pass

    def remove_video(self, uri: str) -> None:
        self._delete(uri)

    def remove_asset(self, uri: str) -> None:
        self._delete(uri)

    def playback(self, uri: str, filename: str, request: Request) -> Response:
        from google.api_core.exceptions import NotFound

        blob = self._blob(uri)
        try:
            blob.reload()
        except NotFound:
            raise ApiError(404, f"the file of {filename!r} is no longer in the bucket",
                           code="video_not_exists") from None
        size, generation = blob.size, blob.generation
        wanted = parse_range(request.headers.get("range"), size)
        first, last = wanted if wanted is not None else (0, size - 1)
        headers = {"accept-ranges": "bytes", "content-length": str(last - first + 1),
                   "content-disposition": f"inline; filename=\"{filename}\""}
        if wanted is not None:
            headers["content-range"] = f"bytes {first}-{last}/{size}"
        # Pinned to the generation read above: an overwrite mid-stream cannot splice two files.
        body = self._read_range(self._blob(uri, generation), first, last)
        return StreamingResponse(body, status_code=206 if wanted is not None else 200, headers=headers,
                                 media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream")

    def thumbnail(self, name: str) -> Response:
        """A thumbnail the stream wrote under ROOT/.thumbnails/ (`name` as thumbnail URLs carry it)."""
        from google.api_core.exceptions import NotFound

        if "\x00" in name or any(part in ("", ".", "..") for part in name.split("/")):
            raise ApiError(400, f"the thumbnail name {name!r} leaves its folder")
        try:
            data = self._bucket().blob(self.root.object_name(THUMBNAILS_FOLDER, name)).download_as_bytes()
        except NotFound:
            raise ApiError(404, f"no thumbnail {name!r}", code="resource_not_exists") from None
        return Response(data, media_type="image/jpeg")

    # ---- multipart chunks ------------------------------------------------------------------------
    def _chunk_name(self, upload_id: str, chunk_index: int, etag: str) -> str:
        return self.root.object_name(MULTIPART_FOLDER, upload_id, f"{chunk_index}.{etag}")

    def keep_chunk(self, part: Path, upload_id: str, chunk_index: int, etag: str) -> None:
        """Upload the part file as `<n>.<md5>`. The name says the bytes, so a copy that is there
        already is the same chunk (nothing to do), and no replica ever replaces a reported chunk's
        bytes: a re-sent chunk with other bytes is another object, the records say which counts."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(self._chunk_name(upload_id, chunk_index, etag))
        with bucket_trouble(self.root):
            try:
                blob.upload_from_filename(str(part), if_generation_match=0,
                                          content_type="application/octet-stream")
            except PreconditionFailed:
                pass

    def joined_chunks(self, upload_id: str, etags: list[str]) -> BinaryIO:
        """Read back in order rather than composed in the bucket: the joined file must pass through
        the same checks (media, size, SHA-256) as any upload, which reads every byte anyway."""
        return IterReader(self._read_chunks([self._chunk_name(upload_id, n, etag)
                                             for n, etag in enumerate(etags, start=1)]))

    def _read_chunks(self, names: list[str]) -> Iterator[bytes]:
        for name in names:
            with self._bucket().blob(name).open("rb", chunk_size=UPLOAD_CHUNK_BYTES) as f:
                while piece := f.read(UPLOAD_CHUNK_BYTES):
                    yield piece

    def remove_chunks(self, upload_id: str) -> None:
        from google.api_core.exceptions import NotFound

        prefix = self.root.object_name(MULTIPART_FOLDER, upload_id) + "/"
        with bucket_trouble(self.root):
            for blob in self._client_for_listing().list_blobs(self.root.bucket, prefix=prefix):
                try:
                    blob.delete()
                except NotFound:  # removed by another replica meanwhile
                    pass

    def _client_for_listing(self):
        self._bucket()  # makes the client
        return self._client

    @staticmethod
    def _read_range(blob, first: int, last: int) -> Iterator[bytes]:
        position = first
        while position <= last:
            end = min(position + PLAYBACK_CHUNK_BYTES - 1, last)
            yield blob.download_as_bytes(start=position, end=end)
            position = end + 1
