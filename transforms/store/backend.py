"""The store's engine interface: what SceneStore (and any other index on top) asks of an engine.

One interface, several implementations, in qdrant-client's own style (local and remote behind
the same calls):

    EdgeBackend          Qdrant's engine in-process (qdrant-edge-py), a local folder: the default
    QdrantClientBackend  qdrant-client against a Qdrant server (or qdrant-client's local mode)
    ProxyBackend         another local process that owns the folder, over sceneline's store protocol

Collections have named dense vectors (cosine) and payload indexes. Filters are qdrant-client's
`models.Filter` everywhere (pipelines/filters.py builds them; they travel as JSON), point ids
are UUID strings.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

from qdrant_client import models

from sceneline.schemas.failures import UserError

# Payload index kinds: keyword (exact match), integer/float (ranges), text (full-text MatchText),
# and category: a keyword whose values each pick out a large share of the collection (tags), so a
# vector search filtered on one walks its own HNSW links (Qdrant's payload-aware graph). The other
# kinds build no such links: a filter on them either selects few points (searched exactly through
# the payload index) or many (the plain graph walk finds enough), and each field's links would
# cost another graph build.
PAYLOAD_INDEX_KINDS = ("keyword", "category", "integer", "float", "text")

# Fusion ranks the union of each vector's best candidates: take them deep enough that a scene
# ranked well by one vector but poorly by the other still competes.
PREFETCH_MIN = 100
PREFETCH_FACTOR = 4
PREFETCH_MAX = 10_000
# Reciprocal-rank fusion constant: 1 / (k + rank), rank from 0. Qdrant's default, on every engine.
RRF_K = 2


class StoreBackendError(UserError, RuntimeError):
    """The engine refused an operation (unknown collection, bad vector size ...)."""


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds: named vectors (name -> dimensions), payload indexes (field ->
    kind), and free metadata (the models that made the vectors)."""

    vectors: dict[str, int]
    payload_indexes: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, kind in self.payload_indexes.items():
            if kind not in PAYLOAD_INDEX_KINDS:
                raise ValueError(f"payload index {name!r}: unknown kind {kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {"vectors": self.vectors, "payload_indexes": self.payload_indexes, "metadata": self.metadata}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CollectionSpec":
        return cls(vectors=dict(data.get("vectors") or {}), payload_indexes=dict(data.get("payload_indexes") or {}),
                   metadata=dict(data.get("metadata") or {}))


@dataclass
class StorePoint:
    id: str
    vectors: dict[str, list[float]] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoredHit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class VectorQuery:
    """Nearest points by one vector, or by several fused with reciprocal rank (RRF).

    A threshold is a least cosine similarity per vector; with fusion it bounds each vector's
    candidates (RRF scores are ranks, not similarities)."""

    vectors: dict[str, list[float]]
    limit: int
    offset: int = 0
    where: models.Filter | None = None
    thresholds: dict[str, float | None] = field(default_factory=dict)

    @property
    def fused(self) -> bool:
        return len(self.vectors) > 1

    def prefetch_depth(self) -> int:
        return min(max(PREFETCH_MIN, PREFETCH_FACTOR * (self.offset + self.limit)), PREFETCH_MAX)

    def to_json(self) -> dict[str, Any]:
        return {"vectors": self.vectors, "limit": self.limit, "offset": self.offset,
                "where": filter_to_json(self.where), "thresholds": self.thresholds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "VectorQuery":
        return cls(vectors=data["vectors"], limit=int(data["limit"]), offset=int(data.get("offset") or 0),
                   where=filter_from_json(data.get("where")), thresholds=dict(data.get("thresholds") or {}))


def filter_to_json(flt: models.Filter | None) -> dict[str, Any] | None:
    return flt.model_dump(mode="json", exclude_none=True) if flt is not None else None


def filter_from_json(data: dict[str, Any] | None) -> models.Filter | None:
    return models.Filter.model_validate(data) if data else None


class StoreBackend(abc.ABC):
    """One engine holding named collections. Implementations are safe to call from several
    threads of one process."""

    describe: str = "a store"

    # ---- collections ---------------------------------------------------------------------
    @abc.abstractmethod
    def collection_exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        """Create the collection with its vectors and payload indexes (no-op if it exists)."""

    @abc.abstractmethod
    def collection_spec(self, name: str) -> CollectionSpec | None:
        """The collection's vectors, payload indexes and metadata; None if it does not exist."""

    # ---- points --------------------------------------------------------------------------
    @abc.abstractmethod
    def upsert(self, name: str, points: Sequence[StorePoint]) -> None: ...

    @abc.abstractmethod
    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StorePoint]:
        """The points among `ids` that exist (payload always, vectors on request)."""

    @abc.abstractmethod
    def delete(self, name: str, *, ids: Sequence[str] | None = None, where: models.Filter | None = None) -> None:
        """Delete points by id, or every point matching a filter."""

    @abc.abstractmethod
    def count(self, name: str, where: models.Filter | None = None) -> int: ...

    @abc.abstractmethod
    def scroll(self, name: str, where: models.Filter | None = None, *, limit: int = 512,
               offset: str | None = None, with_vectors: bool = False) -> tuple[list[StorePoint], str | None]:
        """One page of points in id order from `offset`, and the offset of the next page (None: done)."""

    # ---- queries -------------------------------------------------------------------------
    @abc.abstractmethod
    def query(self, name: str, request: VectorQuery) -> list[ScoredHit]:
        """Best points first (one vector: cosine similarity; several: RRF-fused)."""

    @abc.abstractmethod
    def query_groups(self, name: str, request: VectorQuery, *, group_by: str, groups: int,
                     group_size: int) -> list[list[ScoredHit]]:
        """The best `groups` values of the payload field `group_by`, each with up to
        `group_size` of its best points (request.limit and offset are ignored)."""

    def collection_version(self, name: str) -> int | None:
        """A number that changes with every write to the collection, for caching what was read
        of it; None when writes can come from elsewhere unseen (a server, another process)."""
        return None

    def optimize(self) -> None:
        """Finish pending index builds (an engine that builds them itself does nothing)."""

    def close(self) -> None:
        """Release the engine (files, locks, connections)."""


def group_ranked(fetch, *, group_by: str, groups: int, group_size: int, start_depth: int,
                 max_depth: int = PREFETCH_MAX * 10) -> list[list[ScoredHit]]:
    """Group a ranked list by a payload field, for engines without group queries.

    `fetch(depth)` returns the best `depth` hits. Groups rank by their best hit, so the first
    `groups` distinct values in the ranking are the best groups; the ranking is fetched deeper
    until each of them holds `group_size` hits or nothing more can be had."""
    depth = max(start_depth, 1)
    while True:
        hits = fetch(depth)
        found: dict[Any, list[ScoredHit]] = {}
        for hit in hits:
            key = hit.payload.get(group_by)
            if key is None:
                continue
            if key not in found:
                if len(found) == groups:
                    continue
                found[key] = []
            if len(found[key]) < group_size:
                found[key].append(hit)
        complete = len(found) == groups and all(len(g) == group_size for g in found.values())
        if complete or len(hits) < depth or depth >= max_depth:
            return list(found.values())
        depth = min(depth * 4, max_depth)
