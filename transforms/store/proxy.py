"""The store of another local process: sceneline's store protocol over HTTP (JSON).

The process that owns an index folder serves its backend (pipelines/store_service.py, routes
under /internal/store/); ProxyBackend is the client side, found through the folder's advert
(advert.py). Each call is one request carrying the same arguments as StoreBackend's methods.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

import httpx
from qdrant_client import models

from sceneline.transforms.store.backend import (
    CollectionSpec,
    ScoredHit,
    StoreBackend,
    StoreBackendError,
    StorePoint,
    VectorQuery,
    filter_to_json,
)

PREFIX = "/internal/store"
TIMEOUT_S = 600.0  # an owner may be building its HNSW graphs when a call comes


class ProxyBackend(StoreBackend):
    def __init__(self, url: str, folder: str | None = None):
        self.url = url.rstrip("/")
        self.describe = f"local index at {folder}, through its owner at {self.url}" if folder else self.url
        self._http = httpx.Client(base_url=self.url + PREFIX, timeout=TIMEOUT_S)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise StoreBackendError(f"the process serving the index at {self.url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise StoreBackendError(f"store at {self.url}: {detail}")
        return response.json()

    def collection_exists(self, name: str) -> bool:
        return self._call("GET", f"/collections/{name}")["exists"]

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        self._call("PUT", f"/collections/{name}", spec.to_json())

    def collection_spec(self, name: str) -> CollectionSpec | None:
        spec = self._call("GET", f"/collections/{name}")["spec"]
        return CollectionSpec.from_json(spec) if spec is not None else None

    def upsert(self, name: str, points: Sequence[StorePoint]) -> None:
        self._call("POST", f"/collections/{name}/upsert", {"points": [asdict(p) for p in points]})

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StorePoint]:
        found = self._call("POST", f"/collections/{name}/retrieve", {"ids": list(ids), "with_vectors": with_vectors})
        return [StorePoint(**p) for p in found["points"]]

    def delete(self, name: str, *, ids: Sequence[str] | None = None, where: models.Filter | None = None) -> None:
        self._call("POST", f"/collections/{name}/delete",
                   {"ids": list(ids) if ids is not None else None, "where": filter_to_json(where)})

    def count(self, name: str, where: models.Filter | None = None) -> int:
        return self._call("POST", f"/collections/{name}/count", {"where": filter_to_json(where)})["count"]

    def scroll(self, name: str, where: models.Filter | None = None, *, limit: int = 512,
               offset: str | None = None, with_vectors: bool = False) -> tuple[list[StorePoint], str | None]:
        page = self._call("POST", f"/collections/{name}/scroll", {
            "where": filter_to_json(where), "limit": limit, "offset": offset, "with_vectors": with_vectors})
        return [StorePoint(**p) for p in page["points"]], page["next_offset"]

    def query(self, name: str, request: VectorQuery) -> list[ScoredHit]:
        found = self._call("POST", f"/collections/{name}/query", request.to_json())
        return [ScoredHit(**h) for h in found["hits"]]

    def query_groups(self, name: str, request: VectorQuery, *, group_by: str, groups: int,
                     group_size: int) -> list[list[ScoredHit]]:
        found = self._call("POST", f"/collections/{name}/query_groups", {
            "query": request.to_json(), "group_by": group_by, "groups": groups, "group_size": group_size})
        return [[ScoredHit(**h) for h in group] for group in found["groups"]]

    def optimize(self) -> None:
        self._call("POST", "/optimize")

    def close(self) -> None:
        self._http.close()
