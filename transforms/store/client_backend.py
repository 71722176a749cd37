"""The store on qdrant-client: a Qdrant server (`--qdrant-url`), the remote implementation.

qdrant-client's local mode (`QdrantClient(location=":memory:")` or `path=`) speaks the same
client API; the parity tests run this backend on it, since no Qdrant server binary can be had
on a machine without network. It also reads folders of the old embedded default (see legacy.py).
"""

from __future__ import annotations

import threading
import warnings
from typing import Sequence

from qdrant_client import QdrantClient, models

from sceneline.transforms.store.backend import (
    RRF_K,
    CollectionSpec,
    ScoredHit,
    StoreBackend,
    StorePoint,
    VectorQuery,
)

_SCHEMA_TYPES = {  # see PAYLOAD_INDEX_KINDS for which kinds get filtered-search graph links
    "keyword": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, enable_hnsw=False),
    "category": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, enable_hnsw=True),
    "integer": models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True,
                                         enable_hnsw=False),
    "float": models.FloatIndexParams(type=models.FloatIndexType.FLOAT, enable_hnsw=False),
    "text": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD,
                                   lowercase=True),
}


class QdrantClientBackend(StoreBackend):
    def __init__(self, client: QdrantClient, describe: str = "a Qdrant server"):
        self._client = client
        # qdrant-client's local mode is not thread-safe; a server client does not mind.
        self._lock = threading.RLock()
        self.describe = describe

    def collection_exists(self, name: str) -> bool:
        with self._lock:
            return self._client.collection_exists(name)

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        with self._lock:
            if self._client.collection_exists(name):
                return
            self._client.create_collection(
                name, vectors_config={v: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                                      for v, dim in spec.vectors.items()},
                metadata={**spec.metadata, "sceneline_payload_indexes": spec.payload_indexes})
            with warnings.catch_warnings():
                # Local mode ignores payload indexes (and says so); a server needs them for fast filters.
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                for field_name, kind in spec.payload_indexes.items():
                    self._client.create_payload_index(name, field_name, _SCHEMA_TYPES[kind])

    def collection_spec(self, name: str) -> CollectionSpec | None:
        with self._lock:
            if not self._client.collection_exists(name):
                return None
            info = self._client.get_collection(name)
        vectors = info.config.params.vectors or {}
        if isinstance(vectors, models.VectorParams):  # a collection with one unnamed vector
            vectors = {"": vectors}
        metadata = dict(info.config.metadata or {})
        indexes = metadata.pop("sceneline_payload_indexes", None)
        if indexes is None:  # made by an older sceneline or another tool: what the server reports
            indexes = {k: str(getattr(v.data_type, "value", v.data_type)).lower()
                       for k, v in (info.payload_schema or {}).items()}
        return CollectionSpec(vectors={n: p.size for n, p in vectors.items()}, payload_indexes=indexes,
                              metadata=metadata)

    def upsert(self, name: str, points: Sequence[StorePoint]) -> None:
        structs = [models.PointStruct(id=p.id, vector=p.vectors, payload=p.payload) for p in points]
        with self._lock:
            self._client.upsert(name, structs, wait=True)

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StorePoint]:
        with self._lock:
            found = self._client.retrieve(name, list(ids), with_payload=True, with_vectors=with_vectors)
        return [_point(r, with_vectors) for r in found]

    def delete(self, name: str, *, ids: Sequence[str] | None = None, where: models.Filter | None = None) -> None:
        if (ids is None) == (where is None):
            raise ValueError("delete by ids or by a filter, not both")
        selector = models.PointIdsList(points=list(ids)) if ids is not None else models.FilterSelector(filter=where)
        with self._lock:
            self._client.delete(name, selector, wait=True)

    def count(self, name: str, where: models.Filter | None = None) -> int:
        with self._lock:
            return self._client.count(name, count_filter=where, exact=True).count

    def scroll(self, name: str, where: models.Filter | None = None, *, limit: int = 512,
               offset: str | None = None, with_vectors: bool = False) -> tuple[list[StorePoint], str | None]:
        with self._lock:
            records, next_offset = self._client.scroll(name, scroll_filter=where, limit=limit, offset=offset,
                                                       with_payload=True, with_vectors=with_vectors)
        return [_point(r, with_vectors) for r in records], (str(next_offset) if next_offset is not None else None)

    def query(self, name: str, request: VectorQuery) -> list[ScoredHit]:
        with self._lock:
            result = self._client.query_points(name, limit=request.limit, offset=request.offset,
                                               query_filter=request.where, with_payload=True,
                                               **_query_args(request))
        return [ScoredHit(str(p.id), p.score, p.payload or {}) for p in result.points]

    def query_groups(self, name: str, request: VectorQuery, *, group_by: str, groups: int,
                     group_size: int) -> list[list[ScoredHit]]:
        with self._lock:
            result = self._client.query_points_groups(
                name, group_by=group_by, limit=groups, group_size=group_size, query_filter=request.where,
                with_payload=True, **_query_args(request))
        return [[ScoredHit(str(h.id), h.score, h.payload or {}) for h in group.hits] for group in result.groups]

    def close(self) -> None:
        with self._lock:
            self._client.close()


def _point(record: models.Record, with_vectors: bool) -> StorePoint:
    vectors = record.vector if with_vectors and isinstance(record.vector, dict) else {}
    return StorePoint(str(record.id), dict(vectors), record.payload or {})


def _query_args(request: VectorQuery) -> dict:
    """query_points arguments: a plain vector query, or a prefetch per vector fused with RRF."""
    if not request.fused:
        [(name, vector)] = request.vectors.items()
        return {"query": vector, "using": name, "score_threshold": request.thresholds.get(name)}
    depth = request.prefetch_depth()
    return {
        "prefetch": [models.Prefetch(query=vector, using=name, limit=depth, filter=request.where,
                                     score_threshold=request.thresholds.get(name))
                     for name, vector in request.vectors.items()],
        "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
    }
