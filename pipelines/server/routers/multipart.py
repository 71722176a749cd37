"""/assets/multipart-uploads: resumable uploads of large files in chunks, as TwelveLabs serves them
(the SDK's `client.multipart_upload`: create, get_status, report_chunk_batch,
get_additional_presigned_urls, list_incomplete_uploads, and its `upload_file` helper).

The presigned chunk URLs point at this server (`PUT .../chunks/{n}?expires=..&sig=..`), signed like
its media URLs, so whoever holds one can send that chunk without the API key, as with S3. The
chunk bytes and the sessions are kept on the media root and in the records
(pipelines/server/multipart.py), so an upload resumes after a dropped connection or a server
restart, and its chunks may reach any replica: `get_status` says which chunks are missing and
`presigned-urls` hands out new URLs for them.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from datetime import datetime, timezone
from typing import Dict, List, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from sceneline.pipelines.server import multipart
from sceneline.pipelines.server.deps import (
    check_metadata_values,
    get_media,
    get_records,
    get_settings,
    presigned_url,
    require_live_signature,
)
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.models import Answer, MetadataValue, PageInfo, Strict, page_info, paged
from sceneline.pipelines.server.records import (
    ACTIVE,
    COMPLETED,
    EXPIRED,
    FAILED,
    PROCESSING,
    RECEIVED,
    AssetRow,
    Records,
    UploadRow,
    new_id,
)
from sceneline.pipelines.server.settings import API_PREFIX, ServerSettings
from sceneline.pipelines.server.uploads import safe_filename

router = APIRouter(tags=["multipart uploads"])  # under the API key
chunk_router = APIRouter(tags=["multipart uploads"])  # presigned: the URL's signature is the key
UPLOADS = "/assets/multipart-uploads"


class UploadCreate(Strict):
    filename: str = Field(min_length=1)
    type: Literal["video", "audio", "image"]
    total_size: int = Field(ge=1)
    enable_hls: Optional[bool] = None
    enable_thumbnail: Optional[bool] = None
    user_metadata: Optional[Dict[str, MetadataValue]] = None


class CompletedChunk(Strict):
    chunk_index: int
    proof: str
    proof_type: Literal["etag"]
    chunk_size: int


class ChunkReport(Strict):
    completed_chunks: List[CompletedChunk] = Field(min_length=1)


class UrlRequest(Strict):
    start: int
    count: int = Field(ge=1, le=multipart.MAX_URLS_PER_REQUEST)


class PresignedUrlChunk(Answer):
    chunk_index: int
    url: str
    expires_at: str


class UploadCreated(Answer):
    upload_id: str
    asset_id: str
    upload_urls: List[PresignedUrlChunk]
    upload_headers: Dict[str, str] = {}
    chunk_size: int
    total_chunks: int
    expires_at: str


class ChunkInfo(Answer):
    index: int
    status: Literal["completed", "pending", "failed"]
    uploaded_at: Optional[str] = None
    updated_at: Optional[str] = None
    error: Optional[str] = None
    # sceneline: the chunk's bytes are here and their ETag; a pending chunk with a proof can be
    # reported without sending it again (TwelveLabs clients ignore fields they do not know).
    proof: Optional[str] = None


class UploadStatus(Answer):
    upload_id: str
    asset_id: str
    status: Literal["active", "completed", "failed", "expired"]
    uploaded_chunks: List[ChunkInfo]
    chunks_completed: int
    chunks_failed: int
    chunks_pending: int
    page_info: PageInfo
    total_size: int
    uploaded_size: int
    chunk_size: int
    total_chunks: int
    created_at: str
    updated_at: str
    expires_at: str


class ChunksReported(Answer):
    url: Optional[str] = None  # the asset's URL, once every chunk is reported
    asset_id: str
    processed_chunks: int
    duplicate_chunks: int
    total_completed: int


class MoreUrls(Answer):
    upload_id: str
    start_index: int
    count: int
    upload_urls: List[PresignedUrlChunk]
    generated_at: str
    expires_at: str


class IncompleteUpload(Answer):
    upload_id: str
    asset_id: str
    filename: str
    status: str
    total_size: int
    chunk_size: int
    total_chunks: int
    created_at: str
    expires_at: str


class IncompleteUploadList(Answer):
    data: List[IncompleteUpload]
    page_info: PageInfo


def chunk_urls(request: Request, upload: UploadRow, first: int, count: int) -> tuple[List[PresignedUrlChunk], str]:
    """Presigned PUT URLs for chunks first..first+count-1, and when they stop working."""
    expires = datetime.now(timezone.utc) + multipart.URL_LIFETIME
    stamp, expires_at = int(expires.timestamp()), multipart.rfc3339(expires)
    urls = [PresignedUrlChunk(chunk_index=n, expires_at=expires_at,
                              url=presigned_url(request, f"{API_PREFIX}{UPLOADS}/{upload.id}/chunks/{n}", stamp))
            for n in range(first, first + count)]
    return urls, expires_at


def shown_status(upload: UploadRow) -> str:
    return EXPIRED if upload.status == ACTIVE and multipart.is_expired(upload) else upload.status


@router.post(UPLOADS, status_code=201, response_model=UploadCreated)
def create_upload(body: UploadCreate, request: Request, records: Records = Depends(get_records),
                  settings: ServerSettings = Depends(get_settings),
                  media: MediaRoot = Depends(get_media)) -> UploadCreated:
    if body.total_size > settings.max_upload_bytes:
        raise ApiError(400, f"total_size {body.total_size} is larger than this server's limit of "
                            f"{settings.max_upload_bytes} bytes", code="file_too_large")
    filename = safe_filename(body.filename, "asset")
    metadata = check_metadata_values({k: v for k, v in (body.user_metadata or {}).items() if v is not None})
    multipart.expire_stale(settings, records, media)  # abandoned sessions give their disk back
    chunk_size, total_chunks = multipart.chunk_plan(body.total_size, settings.multipart_chunk_bytes)
    asset_id = new_id()
    # The asset is reserved now (TwelveLabs: `processing` until the upload is complete and checked).
    records.add_asset(AssetRow(id=asset_id, method="multipart", status=PROCESSING, filename=filename,
                               path=str(settings.media_root / "assets" / asset_id / filename), sha256="", size=0,
                               user_metadata=metadata))
    upload = records.add_upload(UploadRow(
        id=new_id(), asset_id=asset_id, filename=filename, type=body.type, total_size=body.total_size,
        chunk_size=chunk_size, total_chunks=total_chunks,
        expires_at=multipart.session_expires_at(datetime.now(timezone.utc))))
    urls, _ = chunk_urls(request, upload, 1, min(total_chunks, multipart.INITIAL_URLS))
    return UploadCreated(upload_id=upload.id, asset_id=asset_id, upload_urls=urls, chunk_size=chunk_size,
                         total_chunks=total_chunks, expires_at=upload.expires_at)


@router.get(UPLOADS, response_model=IncompleteUploadList)
def list_incomplete_uploads(page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
                            records: Records = Depends(get_records),
                            settings: ServerSettings = Depends(get_settings),
                            media: MediaRoot = Depends(get_media)) -> IncompleteUploadList:
    multipart.expire_stale(settings, records, media)
    rows = records.uploads(ACTIVE)
    return IncompleteUploadList(
        data=[IncompleteUpload(upload_id=u.id, asset_id=u.asset_id, filename=u.filename, status=u.status,
                               total_size=u.total_size, chunk_size=u.chunk_size, total_chunks=u.total_chunks,
                               created_at=u.created_at, expires_at=u.expires_at)
              for u in paged(rows, page, page_limit)],
        page_info=page_info(len(rows), page, page_limit))


@router.get(UPLOADS + "/{upload_id}", response_model=UploadStatus)
def get_upload_status(upload_id: str, page: int = Query(1, ge=1), page_limit: int = Query(10, ge=1, le=50),
                      records: Records = Depends(get_records)) -> UploadStatus:
    """Every chunk, page by page: `completed` (reported), `failed` (its last send went wrong), or
    `pending` (not reported yet; with a `proof` when its bytes are already here)."""
    upload = multipart.existing_upload(records, upload_id)
    known = records.chunks(upload.id)
    infos = []
    for n in range(1, upload.total_chunks + 1):
        chunk = known.get(n)
        if chunk is None:
            infos.append(ChunkInfo(index=n, status="pending"))
        elif chunk.status == COMPLETED:
            infos.append(ChunkInfo(index=n, status="completed", uploaded_at=chunk.reported_at,
                                   updated_at=chunk.updated_at, proof=chunk.etag))
        elif chunk.status == FAILED:
            infos.append(ChunkInfo(index=n, status="failed", updated_at=chunk.updated_at, error=chunk.error))
        else:
            infos.append(ChunkInfo(index=n, status="pending", updated_at=chunk.updated_at, proof=chunk.etag))
    completed = sum(c.status == "completed" for c in infos)
    failed = sum(c.status == "failed" for c in infos)
    # Bytes on the server: a chunk counts once it arrived whole, reported or not.
    uploaded = sum(c.size or 0 for c in known.values() if c.status in (RECEIVED, COMPLETED))
    return UploadStatus(upload_id=upload.id, asset_id=upload.asset_id, status=shown_status(upload),
                        uploaded_chunks=paged(infos, page, page_limit), chunks_completed=completed,
                        chunks_failed=failed, chunks_pending=upload.total_chunks - completed - failed,
                        page_info=page_info(len(infos), page, page_limit), total_size=upload.total_size,
                        uploaded_size=uploaded, chunk_size=upload.chunk_size, total_chunks=upload.total_chunks,
                        created_at=upload.created_at, updated_at=upload.updated_at, expires_at=upload.expires_at)


@router.post(UPLOADS + "/{upload_id}", response_model=ChunksReported)
def report_chunk_batch(upload_id: str, body: ChunkReport, request: Request, records: Records = Depends(get_records),
                       settings: ServerSettings = Depends(get_settings),
                       media: MediaRoot = Depends(get_media)) -> ChunksReported:
    """Chunks the client sent (each with the ETag its PUT answered); the last one completes the
    upload, and the asset is assembled and checked in the background (poll it until `ready`)."""
    upload = multipart.existing_upload(records, upload_id)
    if upload.status == COMPLETED:  # a report repeated after the last one: nothing left to do
        return ChunksReported(url=asset_url(request, upload), asset_id=upload.asset_id, processed_chunks=0,
                              duplicate_chunks=len(body.completed_chunks), total_completed=upload.total_chunks)
    processed, total, completes = multipart.report_chunks(
        records, upload.id, [(c.chunk_index, c.chunk_size, c.proof) for c in body.completed_chunks])
    if completes:
        multipart.assemble_in_background(settings, records, upload, media)
    return ChunksReported(url=asset_url(request, upload) if total == upload.total_chunks else None,
                          asset_id=upload.asset_id, processed_chunks=processed,
                          duplicate_chunks=len(body.completed_chunks) - processed, total_completed=total)


def asset_url(request: Request, upload: UploadRow) -> str:
    return str(request.base_url).rstrip("/") + f"{API_PREFIX}/assets/{upload.asset_id}"


@router.post(UPLOADS + "/{upload_id}/presigned-urls", response_model=MoreUrls)
def get_additional_presigned_urls(upload_id: str, body: UrlRequest, request: Request,
                                  records: Records = Depends(get_records)) -> MoreUrls:
    upload = multipart.usable_upload(records, upload_id)
    last = body.start + body.count - 1
    if body.start < 1 or last > upload.total_chunks:
        raise ApiError(400, f"chunks {body.start} to {last} are not all chunks of upload {upload.id}: chunks are "
                            f"numbered 1 to {upload.total_chunks}")
    urls, expires_at = chunk_urls(request, upload, body.start, body.count)
    return MoreUrls(upload_id=upload.id, start_index=body.start, count=body.count, upload_urls=urls,
                    generated_at=multipart.rfc3339(datetime.now(timezone.utc)), expires_at=expires_at)


# The body is the chunk's bytes, read as a stream (not a parameter FastAPI would read whole).
CHUNK_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@chunk_router.put(UPLOADS + "/{upload_id}/chunks/{chunk_index}", status_code=200, response_class=Response,
                  dependencies=[Depends(require_live_signature)], openapi_extra=CHUNK_BODY)
async def put_chunk(upload_id: str, chunk_index: int, request: Request,
                    # Checked by require_live_signature; declared so the OpenAPI document shows them.
                    expires: Optional[int] = Query(None, description="Unix time the URL stops working"),
                    sig: Optional[str] = Query(None, description="The URL's signature")) -> Response:
    """One chunk's bytes (the request body, streamed to disk). Answers its ETag (MD5), which the
    client reports as the chunk's proof. Sending a chunk again replaces it until it is reported;
    one of the wrong size is a 400 and marks the chunk `failed` unless a good copy is here."""
    settings: ServerSettings = request.app.state.settings
    records: Records = request.app.state.records
    upload = await run_in_threadpool(multipart.usable_upload, records, upload_id)
    multipart.check_chunk_index(upload, chunk_index)
    expected = upload.expected_size(chunk_index)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) != expected:
        error = f"chunk {chunk_index} is announced with {declared} bytes; it must have {expected}"
        await run_in_threadpool(records.chunk_failed, upload.id, chunk_index, error)
        raise ApiError(400, error)
    try:
        part, size, etag = await multipart.receive_chunk(settings, upload, chunk_index, request.stream())
    except ApiError as exc:
        await run_in_threadpool(records.chunk_failed, upload.id, chunk_index, exc.message)
        raise
    await run_in_threadpool(multipart.settle_chunk, records, request.app.state.media, upload.id, chunk_index, part,
                            size, etag)
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})
