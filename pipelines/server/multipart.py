"""Multipart (resumable) uploads: chunk plans, chunks streamed in, the file assembled.

A chunk's bytes are first written to a uniquely named part file in `<multipart root>/<upload id>/`
(a dropped connection leaves only a part file that nothing refers to), then kept on the media root
(media_roots.py): renamed over `<n>` in the local folder, or uploaded into the bucket as
`.multipart/<upload id>/<n>.<md5>`, where every replica of the server finds it (in bucket mode the
part file is scratch, gone when the request ends). The records (records.py) say which chunks
arrived and which the client reported. When the last chunk is reported, the chunks are joined,
streamed through the same checks a direct asset upload goes through (media check, hash, size) onto
the media root (the asset's folder, or the bucket); the asset becomes `ready`, or `failed` with the
reason. A server stopped mid-assembly assembles again on start.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import shutil
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator

from starlette.requests import ClientDisconnect

from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.records import (
    ACTIVE,
    COMPLETED,
    EXPIRED,
    FAILED,
    PROCESSING,
    READY,
    RECEIVED,
    Records,
    UploadRow,
)
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.media_roots import MediaRoot

log = logging.getLogger(__name__)

# TwelveLabs' terms: at most 10,000 chunks a file (as S3), chunk URLs live an hour, a session a day.
MAX_CHUNKS = 10_000
URL_LIFETIME = timedelta(hours=1)
SESSION_LIFETIME = timedelta(hours=24)
INITIAL_URLS = 10  # URLs handed out with a new session; the client asks for the others
MAX_URLS_PER_REQUEST = 50
_UPLOAD_ID = re.compile(r"[0-9a-f]{24}")


def chunk_plan(total_size: int, chunk_bytes: int) -> tuple[int, int]:
    """(chunk size, number of chunks) for a file: the server's chunk size, larger when the file
    would need more than MAX_CHUNKS of them."""
    size = max(chunk_bytes, math.ceil(total_size / MAX_CHUNKS))
    return size, math.ceil(total_size / size)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_expires_at(now: datetime) -> str:
    return rfc3339(now + SESSION_LIFETIME)


def is_expired(upload: UploadRow, now: datetime | None = None) -> bool:
    expires = datetime.strptime(upload.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return (now or datetime.now(timezone.utc)) >= expires


def chunk_folder(settings: ServerSettings, upload_id: str) -> Path:
    """The folder of a session's chunks; only ids of the server's own shape reach the disk."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ApiError(404, f"no upload with id {upload_id!r}", code="upload_not_exists")
    return settings.multipart_root / upload_id


def check_chunk_index(upload: UploadRow, chunk_index: int) -> None:
    if not 1 <= chunk_index <= upload.total_chunks:
        raise ApiError(400, f"chunk {chunk_index} is not a chunk of upload {upload.id}: chunks are numbered "
                            f"1 to {upload.total_chunks}")


def existing_upload(records: Records, upload_id: str) -> UploadRow:
    upload = records.upload(upload_id)
    if upload is None:
        raise ApiError(404, f"no upload with id {upload_id!r}", code="upload_not_exists")
    return upload


def usable_upload(records: Records, upload_id: str) -> UploadRow:
    """An upload that still takes chunks: 404 if unknown, 400 if completed or expired."""
    upload = existing_upload(records, upload_id)
    if upload.status == COMPLETED:
        raise ApiError(400, f"upload {upload_id} is completed: it takes no more chunks", code="upload_completed")
    if upload.status == EXPIRED or is_expired(upload):
        raise ApiError(400, f"upload {upload_id} expired at {upload.expires_at}: create a new upload session",
                       code="upload_expired")
    if upload.status != ACTIVE:
        raise ApiError(400, f"upload {upload_id} is {upload.status}", code="upload_failed")
    return upload


async def receive_chunk(settings: ServerSettings, upload: UploadRow, chunk_index: int,
                        body: AsyncIterator[bytes]) -> tuple[Path, int, str]:
    """Stream one chunk's bytes to a part file, counting and hashing (MD5, S3's ETag); a chunk of
    the wrong size is a 400 and leaves nothing behind. Returns (part file, size, etag), for
    `settle_chunk`."""
    expected = upload.expected_size(chunk_index)
    folder = chunk_folder(settings, upload.id)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{chunk_index}.{uuid.uuid4().hex}.part"
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        with open(part, "wb") as out:
            try:
                async for piece in body:
                    size += len(piece)
                    if size > expected:
                        raise ApiError(400, f"chunk {chunk_index} is larger than its {expected} bytes")
                    digest.update(piece)
                    out.write(piece)
            except ClientDisconnect:  # nobody hears the answer; the chunk's status tells the client later
                raise ApiError(400, f"the connection dropped after {size} of chunk {chunk_index}'s {expected} "
                                    f"bytes") from None
        if size != expected:
            raise ApiError(400, f"chunk {chunk_index} has {size} bytes; it must have {expected}")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part, size, digest.hexdigest()


# Chunks are settled and reported under their upload's lock (one of a fixed set), so in one process
# a chunk is never replaced while, or after, it is reported, nor once the upload is being assembled.
# Between replicas the records' compare-and-set writes keep that promise, and a bucket keeps each
# chunk under its bytes' MD5, so a replaced copy is another object, never the reported one.
_LOCKS = tuple(threading.Lock() for _ in range(64))


def upload_lock(upload_id: str) -> threading.Lock:
    return _LOCKS[hash(upload_id) % len(_LOCKS)]


def settle_chunk(records: Records, media: MediaRoot, upload_id: str, chunk_index: int, part: Path,
                 size: int, etag: str) -> None:
    """Keep a received part file as the chunk (on the media root) and record it. Sending a chunk again
    replaces it until it is reported; after that, only the same bytes are accepted (a no-op).
    Blocking: run it off the event loop."""
    try:
        with upload_lock(upload_id):
            usable_upload(records, upload_id)  # still taking chunks (not completed meanwhile)
            earlier = records.chunk(upload_id, chunk_index)
            if earlier is not None and earlier.status == COMPLETED:
                if earlier.etag != etag:
                    raise ApiError(409, f"chunk {chunk_index} is reported already, with other bytes",
                                   code="chunk_reported")
                return
            media.keep_chunk(part, upload_id, chunk_index, etag)
            records.chunk_received(upload_id, chunk_index, size, etag)
            kept = records.chunk(upload_id, chunk_index)
            if kept is not None and kept.status == COMPLETED and kept.etag != etag:
                # Reported through another replica since the check above: the report stands.
                raise ApiError(409, f"chunk {chunk_index} is reported already, with other bytes",
                               code="chunk_reported")
    finally:
        part.unlink(missing_ok=True)


def report_chunks(records: Records, upload_id: str, reports: list[tuple[int, int, str]]) -> tuple[int, int, bool]:
    """Record chunks the client reports as sent, each `(chunk index, size, proof)`, the proof being
    the ETag its PUT answered. The batch is checked whole first: a wrong chunk is a 400 naming it,
    and nothing of the batch is recorded. Returns (chunks newly completed, chunks completed in all,
    whether this report completed the upload: then it is the one to assemble it)."""
    with upload_lock(upload_id):
        upload = usable_upload(records, upload_id)
        known = records.chunks(upload_id)
        problems = []
        for n, size, proof in reports:
            if not 1 <= n <= upload.total_chunks:
                problems.append(f"chunk {n} is not a chunk of this upload (1 to {upload.total_chunks})")
            elif size != upload.expected_size(n):
                problems.append(f"chunk {n} has {upload.expected_size(n)} bytes, not {size}")
            elif n not in known or known[n].status not in (RECEIVED, COMPLETED):
                problems.append(f"chunk {n} has not been received: PUT it to its presigned URL first")
            elif proof.strip('"') != known[n].etag:
                problems.append(f"chunk {n}'s proof does not match the ETag of the bytes received")
        if problems:
            raise ApiError(400, "; ".join(problems[:10]))
        processed = sum(records.chunk_reported(upload_id, n, proof.strip('"')) for n, _, proof in reports)
        total = records.completed_chunks(upload_id)
        completes = total == upload.total_chunks and records.move_upload(upload_id, ACTIVE, COMPLETED)
    return processed, total, completes


def assemble(settings: ServerSettings, records: Records, upload: UploadRow, media: MediaRoot) -> None:
    """Join a completed upload's chunks into its asset's file on the media root (a folder, or a
    gs:// bucket), checked as a direct upload is, and settle the asset `ready` or `failed`; the
    chunks are removed after."""
    asset = records.asset(upload.asset_id)
    if asset is None or asset.status != PROCESSING:
        remove_chunks(settings, media, upload.id)  # settled already, or deleted: nothing to build
        return
    chunks = records.chunks(upload.id)
    etags = [(chunks[n].etag or "") if n in chunks else "" for n in range(1, upload.total_chunks + 1)]
    try:
        # `replace`: another replica (or this server before a restart) may be joining the same
        # chunks into the same file; the asset settles once (records.finish_asset), the file is the same.
        stored = media.save_asset(media.joined_chunks(upload.id, etags), upload.filename, asset_id=asset.id,
                                  max_bytes=settings.max_upload_bytes, replace=True)
    except ApiError as exc:  # the same reasons a direct upload is refused for (not media, empty, too large)
        records.finish_asset(asset.id, FAILED, error=exc.message)
    except OSError as exc:
        log.exception("assembling upload %s failed", upload.id)
        records.finish_asset(asset.id, FAILED, error=f"the uploaded chunks could not be joined: {exc}")
    else:
        if stored.size != upload.total_size:  # cannot happen when every chunk had its size; say so if it does
            records.finish_asset(asset.id, FAILED, error=f"the joined file has {stored.size} bytes, "
                                                         f"not the announced {upload.total_size}")
        else:
            records.finish_asset(asset.id, READY, path=stored.uri, sha256=stored.sha256, size=stored.size)
    remove_chunks(settings, media, upload.id)


def remove_chunks(settings: ServerSettings, media: MediaRoot, upload_id: str) -> None:
    """An ended upload's chunks, kept ones and any part file left on this machine."""
    media.remove_chunks(upload_id)
    shutil.rmtree(chunk_folder(settings, upload_id), ignore_errors=True)


# Uploads being assembled in this process: an app whose lifespan runs again (resume) must not
# start a second assembly writing the same file.
_assembling: set[str] = set()
_assembling_lock = threading.Lock()


def assemble_in_background(settings: ServerSettings, records: Records, upload: UploadRow, media: MediaRoot) -> None:
    """Assembly reads and writes the whole file: off the request, as TwelveLabs validates assets
    asynchronously (the client polls the asset until `ready`)."""
    with _assembling_lock:
        if upload.id in _assembling:
            return
        _assembling.add(upload.id)

    def run() -> None:
        try:
            assemble(settings, records, upload, media)
        finally:
            with _assembling_lock:
                _assembling.discard(upload.id)

    threading.Thread(target=run, name=f"sceneline-assemble-{upload.id}", daemon=True).start()


def resume(settings: ServerSettings, records: Records, media: MediaRoot) -> None:
    """On start: settle sessions that expired while the server was down, and assemble again any
    completed upload whose asset is still `processing` (the server stopped mid-assembly)."""
    expire_stale(settings, records, media)
    for upload in records.uploads(COMPLETED):
        asset = records.asset(upload.asset_id)
        if asset is not None and asset.status == PROCESSING:
            log.info("assembling upload %s (%s) again", upload.id, upload.filename)
            assemble_in_background(settings, records, upload, media)


def expire_stale(settings: ServerSettings, records: Records, media: MediaRoot) -> None:
    """Sessions past their 24 hours: `expired`, their chunks removed, their reserved asset `failed`."""
    now = datetime.now(timezone.utc)
    for upload in records.uploads(ACTIVE):
        if is_expired(upload, now) and records.move_upload(upload.id, ACTIVE, EXPIRED):
            remove_chunks(settings, media, upload.id)
            records.finish_asset(upload.asset_id, FAILED,
                                 error=f"the multipart upload expired at {upload.expires_at} before it was complete")
