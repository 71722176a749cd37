"""The FastAPI application: TwelveLabs' v1.3 routes under /v1.3, health and metrics at the root.

    create_app(settings) -> FastAPI

Routers are per resource (routers/*.py); a new resource (analyze, a web console) adds its own
router in `ROUTERS` or through `app.include_router(router, prefix=API_PREFIX, dependencies=AUTH)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from sceneline.pipelines.console import mount_console
from sceneline.pipelines.server.auth import require_api_key
from sceneline.pipelines.server.deps import require_key_or_signature
from sceneline.pipelines.server.errors import error_body, install_error_handlers
from sceneline.pipelines.server.indexer import Indexer
from sceneline.pipelines.server.media_roots import media_root_for
from sceneline.pipelines.server.multipart import resume as resume_multipart_uploads
from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.records_open import open_records
from sceneline.pipelines.server.routers import (
    analyze,
    assets,
    health,
    indexes,
    media,
    multipart,
    search,
    tasks,
    videos,
)
from sceneline.pipelines.server.settings import API_PREFIX, ServerSettings
from sceneline.pipelines.server.stream_follower import StreamFollower

log = logging.getLogger(__name__)

# multipart before assets: `/assets/multipart-uploads` is not an asset id.
ROUTERS = (indexes.router, tasks.router, videos.router, search.router, multipart.router, assets.router)
AUTH = [Depends(require_api_key)]
UPLOAD_OVERHEAD_BYTES = 1024 * 1024  # multipart boundaries and the other form fields
MEDIA_AUTH = [Depends(require_key_or_signature)]


# Local index folders this process serves, with how many apps share each: two apps of one process
# (replicas in a test, an app whose lifespan runs again) share the one owner the folder admits.
_served: dict[str, tuple[contextlib.ExitStack, int]] = {}
_served_lock = threading.Lock()


@contextlib.contextmanager
def own_store(settings: ServerSettings) -> Iterator[None]:
    """Hold the embedded index for everyone on this machine while the server runs.

    A local index folder admits one process: the server owns it and serves it (sceneline's store
    protocol, pipelines/store_service.py) to its own indexing workers and to CLI commands on the
    same folder, which find it by the advert in the folder."""
    store = settings.store
    if store.url or store.path == ":memory:":
        yield  # a Qdrant server is shared by nature; an in-memory index has no other readers
        return
    from sceneline.pipelines.store_service import serve_store

    folder = str(Path(store.path).resolve())
    with _served_lock:
        stack, users = _served.get(folder, (None, 0))
        if stack is None:
            stack = contextlib.ExitStack()
            stack.enter_context(serve_store(store.path, answer_searches=True))
        _served[folder] = (stack, users + 1)
    try:
        yield
    finally:
        with _served_lock:
            stack, users = _served.pop(folder)
            if users > 1:
                _served[folder] = (stack, users - 1)
            else:
                stack.close()


def create_app(settings: ServerSettings, records: Records | None = None) -> FastAPI:
    """The app over `records` (default: `open_records(settings)`). Several apps over the same
    records (replicas) serve the same indexes, videos, uploads and presigned URLs."""
    records = records if records is not None else open_records(settings)
    if settings.signing_secret is None:
        settings = dataclasses.replace(settings, signing_secret=records.signing_secret())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.media.start()
        with own_store(settings):
            resume_multipart_uploads(settings, records, app.state.media)
            app.state.indexer.start()
            try:
                yield
            finally:
                app.state.indexer.stop()
                app.state.records.close()

    app = FastAPI(title="sceneline", version="1.3",
                  description="A self-hosted TwelveLabs v1.3 API: upload videos, follow indexing, search.",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.records = records
    app.state.media = media_root_for(settings)
    # Uploads in a bucket are indexed by the stream pipeline; the server follows their status.
    app.state.indexer = Indexer(settings, records) if app.state.media.indexed_by_server \
        else StreamFollower(settings, records)
    app.state.metrics = health.ServerMetrics()
    install_error_handlers(app)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = too_large(request, settings) or await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        app.state.metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    app.include_router(health.router)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, dependencies=AUTH)
    app.include_router(media.router, prefix=API_PREFIX, dependencies=MEDIA_AUTH)
    app.include_router(multipart.chunk_router, prefix=API_PREFIX)  # presigned chunk URLs: no API key
    app.include_router(analyze.router(settings, records), dependencies=AUTH)  # prefixed /v1.3 itself
    # Last, since a mount at `/` takes every path left: the web page.
    mount_console(app)
    return app


def too_large(request: Request, settings: ServerSettings) -> JSONResponse | None:
    """A body announced larger than any upload may be is refused before a byte is read."""
    declared = request.headers.get("content-length", "")
    limit = settings.max_upload_bytes + UPLOAD_OVERHEAD_BYTES
    if declared.isdigit() and int(declared) > limit:
        return JSONResponse(error_body("file_too_large", f"the request body ({declared} bytes) is larger than this "
                                                         f"server's limit of {settings.max_upload_bytes} bytes"),
                            status_code=413)
    return None
