"""Share a local Qdrant folder between processes by serving it in Qdrant's own REST dialect.

Qdrant's local mode (`QdrantClient(path=...)`) admits one process per folder. When a second
process needs the index (a search from another terminal while a stream runs, Dask or
multi-process workers writing one index), the process that owns the folder serves it over
HTTP, answering the subset of Qdrant's REST API that qdrant-client uses, and everyone else
talks to it with an ordinary `QdrantClient(url=...)`: the same code path as a Qdrant server.

The owner writes an advert (`sceneline-gateway.json`) into the folder; `SceneStore` finds it
and connects to the URL instead of opening the folder. The advert goes when the owner stops;
a stale one (its process died) is ignored and removed.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations as objects.
import contextlib
import json
import logging
import os
import threading
import time
from typing import Any, Callable, Iterator

from qdrant_client import QdrantClient
from qdrant_client.http import models

from sceneline.schemas.failures import UserError
from sceneline.transforms.store.scene_store import StoreConfig, _shared_client
from sceneline.transforms.store.advert import ADVERT_NAME, _advert_path, advertised_url  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

class GatewayError(UserError, RuntimeError):
    """The folder cannot be served (already served by another process, port taken ...)."""


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build_app(client: QdrantClient, lock: threading.RLock):
    """A FastAPI app answering Qdrant REST calls with the local client (one call at a time:
    the local client is not thread-safe)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from importlib.metadata import version

    app = FastAPI(title="sceneline Qdrant gateway", docs_url=None, redoc_url=None, openapi_url=None)

    def answer(call: Callable[[], Any]) -> JSONResponse:
        started = time.perf_counter()
        try:
            with lock:
                result = call()
        except Exception as exc:  # Qdrant's error shape, so qdrant-client raises its usual error
            status = 404 if "not found" in str(exc).lower() else 400
            return JSONResponse({"status": {"error": str(exc)}, "time": time.perf_counter() - started},
                                status_code=status)
        return JSONResponse({"result": _jsonable(result), "status": "ok",
                             "time": time.perf_counter() - started})

    @app.get("/")
    def root() -> dict:
        # The version of the engine inside: the local mode of this qdrant-client.
        return {"title": "qdrant - vector search engine (sceneline gateway)", "version": version("qdrant-client")}

    @app.get("/healthz")
    def healthz() -> str:
        return "healthz check passed"

    @app.get("/collections")
    def collections():
        return answer(client.get_collections)

    @app.get("/collections/{name}/exists")
    def exists(name: str):
        return answer(lambda: models.CollectionExistence(exists=client.collection_exists(name)))

    @app.get("/collections/{name}")
    def get_collection(name: str):
        return answer(lambda: client.get_collection(name))

    @app.put("/collections/{name}")
    def create_collection(name: str, body: models.CreateCollection):
        return answer(lambda: client.create_collection(
            name, vectors_config=body.vectors, sparse_vectors_config=body.sparse_vectors,
            metadata=body.metadata))

    @app.patch("/collections/{name}")
    def update_collection(name: str, body: models.UpdateCollection):
        return answer(lambda: client.update_collection(name, metadata=body.metadata))

    @app.delete("/collections/{name}")
    def delete_collection(name: str):
        return answer(lambda: client.delete_collection(name))

    @app.put("/collections/{name}/index")
    def create_index(name: str, body: models.CreateFieldIndex):
        def call():
            import warnings

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                return client.create_payload_index(name, body.field_name, body.field_schema)
        return answer(call)

    @app.put("/collections/{name}/points")
    async def upsert(name: str, request: Request):
        body = await request.json()
        if "batch" in body:
            points: Any = models.PointsBatch.model_validate(body).batch
        else:
            points = models.PointsList.model_validate(body).points
        return answer(lambda: client.upsert(name, points))

    @app.post("/collections/{name}/points/delete")
    async def delete(name: str, request: Request):
        body = await request.json()
        selector: Any = (models.FilterSelector.model_validate(body) if "filter" in body
                         else models.PointIdsList.model_validate(body))
        return answer(lambda: client.delete(name, selector))

    @app.post("/collections/{name}/points/payload")
    def set_payload(name: str, body: models.SetPayload):
        return answer(lambda: client.set_payload(
            name, body.payload, points=body.points if body.points is not None else body.filter, key=body.key))

    @app.post("/collections/{name}/points/count")
    def count(name: str, body: models.CountRequest):
        return answer(lambda: client.count(name, count_filter=body.filter,
                                           exact=True if body.exact is None else body.exact))

    @app.post("/collections/{name}/points/scroll")
    def scroll(name: str, body: models.ScrollRequest):
        def call():
            points, offset = client.scroll(
                name, scroll_filter=body.filter, limit=body.limit or 10, offset=body.offset,
                with_payload=True if body.with_payload is None else body.with_payload,
                with_vectors=body.with_vector or False, order_by=body.order_by)
            return models.ScrollResult(points=points, next_page_offset=offset)
        return answer(call)

    @app.post("/collections/{name}/points")
    def retrieve(name: str, body: models.PointRequest):
        return answer(lambda: client.retrieve(
            name, body.ids, with_payload=True if body.with_payload is None else body.with_payload,
            with_vectors=body.with_vector or False))

    def _query_kwargs(body: models.QueryRequest | models.QueryGroupsRequest) -> dict[str, Any]:
        return dict(query=body.query, using=body.using, prefetch=body.prefetch, query_filter=body.filter,
                    search_params=body.params, score_threshold=body.score_threshold,
                    with_payload=True if body.with_payload is None else body.with_payload,
                    with_vectors=body.with_vector or False, lookup_from=body.lookup_from)

    @app.post("/collections/{name}/points/query")
    def query(name: str, body: models.QueryRequest):
        return answer(lambda: client.query_points(
            name, limit=body.limit or 10, offset=body.offset, **_query_kwargs(body)))

    @app.post("/collections/{name}/points/query/groups")
    def query_groups(name: str, body: models.QueryGroupsRequest):
        return answer(lambda: client.query_points_groups(
            name, group_by=body.group_by, group_size=body.group_size or 3, limit=body.limit or 10,
            with_lookup=body.with_lookup, **_query_kwargs(body)))

    return app


class StoreGateway:
    """Serve one local Qdrant folder on 127.0.0.1 (or `host`) from this process."""

    def __init__(self, folder: str, client: QdrantClient, lock: threading.RLock,
                 host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.folder = folder
        config = uvicorn.Config(build_app(client, lock), host=host, port=port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sceneline-gateway", daemon=True)
        self.url: str | None = None

    def start(self, timeout_s: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise GatewayError(f"could not serve {self.folder} (is the port taken?)")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        _advert_path(self.folder).write_text(json.dumps(
            {"url": self.url, "pid": os.getpid(), "started_at": time.time()}))
        _running.add(self)
        log.info("serving %s at %s", self.folder, self.url)
        return self.url

    def stop(self) -> None:
        _running.discard(self)
        with contextlib.suppress(OSError):
            advert = _advert_path(self.folder)
            if json.loads(advert.read_text()).get("pid") == os.getpid():
                advert.unlink()
        self._server.should_exit = True
        self._thread.join(timeout=10)


_running: set[StoreGateway] = set()


def stop_gateways() -> None:
    """Stop every gateway of this process (their adverts go): for an interrupted run, whose
    pipeline thread, which opened them, is abandoned rather than unwound."""
    for gateway in list(_running):
        gateway.stop()


@contextlib.contextmanager
def serve_folder(folder: str, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a local Qdrant folder for the duration of the block; yields the URL."""
    other = advertised_url(folder)
    if other:
        raise GatewayError(f"{folder} is already served by another process at {other}")
    client, lock = _shared_client(StoreConfig(path=folder))
    gateway = StoreGateway(folder, client, lock, host=host, port=port)
    try:
        yield gateway.start()
    finally:
        gateway.stop()
