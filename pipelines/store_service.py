"""The owner side of sceneline's store protocol: serve a local index to other processes.

A local folder admits one process. The owner serves its store engine over HTTP (JSON, routes
under /internal/store/) and advertises the URL in the folder; other processes find the advert
and use transforms/store/proxy.py's ProxyBackend. `store_router` mounts on any FastAPI app (the
API server includes it and advertises itself); `serve_store` runs just that router, for
`sceneline serve`, streams and multi-process runners.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations as objects.
import contextlib
import logging
import threading
import time
from dataclasses import asdict
from typing import Any, Iterator, Optional

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel

from sceneline.schemas.failures import UserError
from sceneline.transforms.store.advert import AdvertError, advertise, withdraw  # noqa: F401  (re-exported)
from sceneline.transforms.store.backend import (
    CollectionSpec,
    StoreBackend,
    StoreBackendError,
    StorePoint,
    VectorQuery,
    filter_from_json,
)
from sceneline.transforms.store.config import StoreConfig
from sceneline.transforms.store.engines import shared_backend

log = logging.getLogger(__name__)

PREFIX = "/internal/store"


class ServeError(UserError, RuntimeError):
    """The folder cannot be served (served by another process already, port taken ...)."""


class PointsBody(BaseModel):
    points: list[dict[str, Any]]


class IdsBody(BaseModel):
    ids: list[str]
    with_vectors: bool = False


class DeleteBody(BaseModel):
    ids: Optional[list[str]] = None
    where: Optional[dict[str, Any]] = None


class WhereBody(BaseModel):
    where: Optional[dict[str, Any]] = None


class ScrollBody(BaseModel):
    where: Optional[dict[str, Any]] = None
    limit: int = 512
    offset: Optional[str] = None
    with_vectors: bool = False


class GroupsBody(BaseModel):
    query: dict[str, Any]
    group_by: str
    groups: int
    group_size: int


def store_router(store: Any) -> APIRouter:
    """The store protocol's routes for a SceneStore (or a bare StoreBackend) of this process."""
    backend: StoreBackend = getattr(store, "backend", store)
    router = APIRouter(prefix=PREFIX, tags=["internal store"], include_in_schema=False)

    def answer(call):
        try:
            return call()
        except (StoreBackendError, ValueError, KeyError, TypeError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except Exception as exc:  # the engine's own errors (bad filter, unknown field ...)
            raise HTTPException(status_code=400, detail=f"{type(exc).__name__}: {exc}") from exc

    @router.get("/collections/{name}")
    def get_collection(name: str) -> dict:
        spec = answer(lambda: backend.collection_spec(name))
        return {"exists": spec is not None, "spec": spec.to_json() if spec else None}

    @router.put("/collections/{name}")
    def create_collection(name: str, body: dict = Body(...)) -> dict:
        answer(lambda: backend.create_collection(name, CollectionSpec.from_json(body)))
        return {"ok": True}

    @router.post("/collections/{name}/upsert")
    def upsert(name: str, body: PointsBody) -> dict:
        answer(lambda: backend.upsert(name, [StorePoint(**p) for p in body.points]))
        return {"ok": True}

    @router.post("/collections/{name}/retrieve")
    def retrieve(name: str, body: IdsBody) -> dict:
        found = answer(lambda: backend.retrieve(name, body.ids, with_vectors=body.with_vectors))
        return {"points": [asdict(p) for p in found]}

    @router.post("/collections/{name}/delete")
    def delete(name: str, body: DeleteBody) -> dict:
        answer(lambda: backend.delete(name, ids=body.ids, where=filter_from_json(body.where)))
        return {"ok": True}

    @router.post("/collections/{name}/count")
    def count(name: str, body: WhereBody) -> dict:
        return {"count": answer(lambda: backend.count(name, filter_from_json(body.where)))}

    @router.post("/collections/{name}/scroll")
    def scroll(name: str, body: ScrollBody) -> dict:
        points, next_offset = answer(lambda: backend.scroll(
            name, filter_from_json(body.where), limit=body.limit, offset=body.offset,
            with_vectors=body.with_vectors))
        return {"points": [asdict(p) for p in points], "next_offset": next_offset}

    @router.post("/collections/{name}/query")
    def query(name: str, body: dict = Body(...)) -> dict:
        hits = answer(lambda: backend.query(name, VectorQuery.from_json(body)))
        return {"hits": [asdict(h) for h in hits]}

    @router.post("/collections/{name}/query_groups")
    def query_groups(name: str, body: GroupsBody) -> dict:
        groups = answer(lambda: backend.query_groups(name, VectorQuery.from_json(body.query), group_by=body.group_by,
                                                     groups=body.groups, group_size=body.group_size))
        return {"groups": [[asdict(h) for h in group] for group in groups]}

    @router.post("/optimize")
    def optimize() -> dict:
        answer(backend.optimize)
        return {"ok": True}

    return router


class _Server:
    """uvicorn in a thread, serving one FastAPI app."""

    def __init__(self, app, host: str, port: int, folder: str | None = None):
        import uvicorn

        self.folder = folder  # the index folder it serves, whose advert goes when it stops
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sceneline-store-service", daemon=True)

    def start(self, timeout_s: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServeError("could not start serving (is the port taken?)")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        _running.add(self)
        return f"http://{host}:{port}"

    def stop(self) -> None:
        _running.discard(self)
        self._server.should_exit = True
        self._thread.join(timeout=10)


_running: set[_Server] = set()


def stop_servers() -> None:
    """Stop every store server of this process and withdraw its advert: for an interrupted run,
    whose pipeline thread, which started them, is abandoned rather than unwound."""
    for server in list(_running):
        server.stop()
        if server.folder:
            withdraw(server.folder)


def search_router(folder: str) -> APIRouter:
    """Searches answered by the process that owns `folder`, with the query models it keeps loaded:
    a `sceneline search` from another terminal then loads no model of its own."""
    router = APIRouter(prefix=PREFIX, tags=["internal store"], include_in_schema=False)

    @router.post("/search/{collection}")
    def search(collection: str, body: dict = Body(...)) -> dict:
        # The query side (Beam's file systems, the models) loads with the first search, not at start.
        from pydantic import ValidationError

        from sceneline.pipelines.filters import FilterError
        from sceneline.pipelines.search import SearchError, search as run_search
        from sceneline.schemas import SearchRequest
        from sceneline.transforms.store.scene_store import SceneStore

        try:
            request = SearchRequest.model_validate(body.get("request"))
            store = SceneStore(StoreConfig(path=folder, collection=collection))
            page = run_search(store, request, visual_model=body.get("visual_model"),
                              offline=bool(body.get("offline")))
        except (ValidationError, SearchError, FilterError, StoreBackendError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return page.model_dump(mode="json")

    return router


@contextlib.contextmanager
def serve_store(folder: str, host: str = "127.0.0.1", port: int = 0,
                answer_searches: bool = False) -> Iterator[str]:
    """Own the local index `folder` and serve it to other processes for the block; yields the URL.
    A long-lived owner (the API server) also answers searches (`answer_searches`); an indexing
    run leaves its cores to indexing, and searches load their models where they are asked."""
    from fastapi import FastAPI

    from sceneline.transforms.store.advert import advertised_url

    other = advertised_url(folder)
    if other:
        raise ServeError(f"{folder} is already served by another process at {other}")
    backend = shared_backend(StoreConfig(path=folder))  # takes the folder (or says who holds it)
    app = FastAPI(title="sceneline store", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(store_router(backend))
    if answer_searches:
        app.include_router(search_router(folder))
    server = _Server(app, host, port, folder)
    url = server.start()
    try:
        with advertise(folder, url):
            log.info("serving %s at %s", folder, url)
            yield url
    finally:
        server.stop()
