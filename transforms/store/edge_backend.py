"""The embedded store: Qdrant's own engine in this process (qdrant-edge-py), in a local folder.

Layout of the folder:

    sceneline-engine.json        marks the folder as this engine's (and its format)
    .sceneline.lock              held (flock) by the one process that owns the folder
    collections/NAME/            one edge shard per collection (HNSW, payload indexes, WAL)
    collections/NAME.json        the collection's spec: vectors, payload indexes, metadata

Edge keeps no collection metadata, has no group queries and builds its HNSW graphs only when
asked (`optimize`, which holds the GIL while it runs): this module adds the first two and runs
the build after large writes and when the store closes. Until then new points are searched
exactly, so results are right at every moment, only slower.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import qdrant_edge as edge
from qdrant_client import models

from sceneline.schemas.failures import UserError
from sceneline.transforms.store.config import ENGINE_MARKER
from sceneline.transforms.store.backend import (
    RRF_K,
    CollectionSpec,
    ScoredHit,
    StoreBackend,
    StoreBackendError,
    StorePoint,
    VectorQuery,
    group_ranked,
)

log = logging.getLogger(__name__)

ENGINE_FORMAT = 1
LOCK_NAME = ".sceneline.lock"
COLLECTIONS_DIR = "collections"
# Edge wants at least one vector per shard: collections without vectors (status records) get
# this one-dimensional placeholder, never written or shown.
PLACEHOLDER_VECTOR = "_sceneline_none"

# HNSW: chosen with benchmarks/search_latency.py so top-10 recall against an exact scan stays
# >= 0.98 (see docs/store.md); segments under edge's indexing threshold are searched exactly.
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100  # Qdrant's default
# A filtered query whose filter admits fewer points of a segment than fit in this many KiB of
# vectors is answered by an exact scan of those points (through the payload index) instead of a
# filtered graph walk: 20k points of 512-d float32. A walk over a tenth of 100k scenes found 0.92
# of the true top 10 for an asset filter; the scan finds them all, for about twice the walk's CPU
# time (docs/store.md).
HNSW_FULL_SCAN_THRESHOLD_KB = 40_000
SEARCH_EF = 128
# A filtered walk skips every neighbour the filter rejects: it needs more candidates to find ten
# that pass (a filter keeping a tenth of 100k scenes: recall@10 0.95 at 256, 0.99 at 512).
FILTERED_SEARCH_EF = 512
# A filter that admits a tenth of a segment too large to scan exactly (a million scenes) and is on a
# field without payload-aware links (an asset filter, resolved to asset ids) leaves the walk too few
# admitted neighbours: 0.71 of the true top 10. ACORN (Qdrant's filtered walk that also looks two
# hops away when a neighbour is rejected) finds them, at the cost of more distance computations; it
# is used only where the filter admits less than this share of the points (Qdrant's default).
ACORN_MAX_SELECTIVITY = 0.4
# Build the HNSW graphs once this many points were written since the last build (and on close).
OPTIMIZE_AFTER_POINTS = 200_000

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PAYLOAD_SCHEMAS: dict[str, Any] = {  # see PAYLOAD_INDEX_KINDS for which kinds get graph links
    "keyword": edge.KeywordIndexParams(enable_hnsw=False),
    "category": edge.KeywordIndexParams(enable_hnsw=True),
    "integer": edge.IntegerIndexParams(lookup=True, range=True, enable_hnsw=False),
    "float": edge.FloatIndexParams(enable_hnsw=False),
    "text": edge.TextIndexParams(tokenizer=edge.TokenizerType.Word, lowercase=True),
}


class FolderLockedError(UserError, RuntimeError):
    """Another process holds the folder."""


def is_edge_folder(folder: str | os.PathLike) -> bool:
    return (Path(folder) / ENGINE_MARKER).exists()


def check_collection_name(name: str) -> str:
    """Collection names become folder names: never let one escape the store's folder."""
    if not _NAME.match(name or ""):
        raise StoreBackendError(f"invalid collection name {name!r}: use letters, digits, '_', '-', '.'")
    return name


class EdgeBackend(StoreBackend):
    """Every collection of one folder, held by this process (a flock on the folder)."""

    def __init__(self, folder: str, *, temporary: bool = False):
        self.folder = Path(folder)
        self.temporary = temporary
        self.describe = "in-memory store" if temporary else f"local index at {folder}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.folder / LOCK_NAME, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise FolderLockedError(
                f"the index at {folder} is in use by another process that does not share it; stop that "
                f"process, or run it as `sceneline serve --qdrant-path {folder}` and this command goes "
                "through it") from None
        marker = self.folder / ENGINE_MARKER
        if not marker.exists():
            _write_json(marker, {"engine": "qdrant-edge", "format": ENGINE_FORMAT,
                                 "qdrant_edge_version": _edge_version()})
        (self.folder / COLLECTIONS_DIR).mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self._shards: dict[str, edge.EdgeShard] = {}
        self._specs: dict[str, CollectionSpec] = {}
        self._pending: dict[str, int] = {}  # points written since the last HNSW build, per collection
        self._versions: dict[str, int] = {}  # writes per collection, in this process
        # Time spent building HNSW graphs, in all (writes wait for it), and the process's CPU time
        # meanwhile (the build runs in the engine's own threads).
        self.build_seconds = 0.0
        self.build_cpu_seconds = 0.0

    @classmethod
    def in_memory(cls) -> "EdgeBackend":
        """`:memory:`: the same engine in a temporary folder, removed on close."""
        return cls(tempfile.mkdtemp(prefix="sceneline-memory-"), temporary=True)

    # ---- collections ---------------------------------------------------------------------
    def _spec_path(self, name: str) -> Path:
        return self.folder / COLLECTIONS_DIR / f"{check_collection_name(name)}.json"

    def _shard_path(self, name: str) -> Path:
        return self.folder / COLLECTIONS_DIR / check_collection_name(name)

    def collection_exists(self, name: str) -> bool:
        with self._lock:
            return name in self._specs or self._spec_path(name).exists()

    def collection_spec(self, name: str) -> CollectionSpec | None:
        with self._lock:
            if name not in self._specs:
                path = self._spec_path(name)
                if not path.exists():
                    return None
                self._specs[name] = CollectionSpec.from_json(json.loads(path.read_text()))
            return self._specs[name]

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        with self._lock:
            if self.collection_exists(name):
                return
            shard_path = self._shard_path(name)
            shutil.rmtree(shard_path, ignore_errors=True)  # a creation cut short before its spec was written
            vectors = spec.vectors or {PLACEHOLDER_VECTOR: 1}
            shard = edge.EdgeShard.create(str(shard_path), edge.EdgeConfig(
                vectors={v: edge.EdgeVectorParams(size=dim, distance=edge.Distance.Cosine)
                         for v, dim in vectors.items()},
                hnsw_config=edge.HnswIndexConfig(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT,
                                                 full_scan_threshold=HNSW_FULL_SCAN_THRESHOLD_KB)))
            for field_name, kind in spec.payload_indexes.items():
                shard.update(edge.UpdateOperation.create_field_index(field_name, _PAYLOAD_SCHEMAS[kind]))
            shard.flush()
            self._shards[name] = shard
            _write_json(self._spec_path(name), spec.to_json())  # last: the collection exists from here
            self._specs[name] = spec

    def _shard(self, name: str) -> edge.EdgeShard:
        with self._lock:
            shard = self._shards.get(name)
            if shard is None:
                if self.collection_spec(name) is None:
                    raise StoreBackendError(f"collection {name!r} not found in {self.folder}")
                shard = self._shards[name] = edge.EdgeShard.load(str(self._shard_path(name)))
            return shard

    # ---- points --------------------------------------------------------------------------
    def upsert(self, name: str, points: Sequence[StorePoint]) -> None:
        if not points:
            return
        spec = self.collection_spec(name)
        if spec is None:
            raise StoreBackendError(f"collection {name!r} not found in {self.folder}")
        for p in points:
            for vector_name, vector in p.vectors.items():
                size = spec.vectors.get(vector_name)
                if size is None or len(vector) != size:
                    raise StoreBackendError(f"collection {name!r}: vector {vector_name!r} of {len(vector)} "
                                            f"dimensions does not fit {spec.vectors}")
        batch = [edge.Point(p.id, dict(p.vectors), p.payload) for p in points]
        with self._lock:
            shard = self._shard(name)
            shard.update(edge.UpdateOperation.upsert_points(batch))
            self._versions[name] = self._versions.get(name, 0) + 1
            self._pending[name] = self._pending.get(name, 0) + len(batch)
            if self._pending[name] >= OPTIMIZE_AFTER_POINTS:
                self._optimize(name)

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StorePoint]:
        if not ids:
            return []
        with self._lock:
            records = self._shard(name).retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [self._point(r, with_vectors) for r in records]

    def delete(self, name: str, *, ids: Sequence[str] | None = None, where: models.Filter | None = None) -> None:
        if (ids is None) == (where is None):
            raise ValueError("delete by ids or by a filter, not both")
        operation = (edge.UpdateOperation.delete_points(list(ids)) if ids is not None
                     else edge.UpdateOperation.delete_points_by_filter(edge_filter(where)))
        with self._lock:
            self._shard(name).update(operation)
            self._versions[name] = self._versions.get(name, 0) + 1

    def collection_version(self, name: str) -> int | None:
        # This process owns the folder: every write to it passes here.
        with self._lock:
            return self._versions.get(name, 0)

    def count(self, name: str, where: models.Filter | None = None) -> int:
        with self._lock:
            return self._shard(name).count(edge.CountRequest(exact=True, filter=edge_filter(where)))

    def scroll(self, name: str, where: models.Filter | None = None, *, limit: int = 512,
               offset: str | None = None, with_vectors: bool = False) -> tuple[list[StorePoint], str | None]:
        with self._lock:
            records, next_offset = self._shard(name).scroll(edge.ScrollRequest(
                offset=offset, limit=limit, filter=edge_filter(where), with_payload=True, with_vector=with_vectors))
        return ([self._point(r, with_vectors) for r in records],
                str(next_offset) if next_offset is not None else None)

    @staticmethod
    def _point(record: Any, with_vectors: bool) -> StorePoint:
        vectors = record.vector if with_vectors and isinstance(record.vector, dict) else {}
        vectors = {k: list(v) for k, v in vectors.items() if k != PLACEHOLDER_VECTOR}
        return StorePoint(str(record.id), vectors, record.payload or {})

    # ---- queries -------------------------------------------------------------------------
    def query(self, name: str, request: VectorQuery) -> list[ScoredHit]:
        where = edge_filter(request.where)
        params = (edge.SearchParams(hnsw_ef=SEARCH_EF) if where is None else edge.SearchParams(
            hnsw_ef=FILTERED_SEARCH_EF, acorn=edge.AcornSearchParams(enable=True,
                                                                    max_selectivity=ACORN_MAX_SELECTIVITY)))
        if request.fused:
            depth = request.prefetch_depth()
            edge_request = edge.QueryRequest(
                limit=request.limit, offset=request.offset, query=edge.Fusion.Rrf(k=RRF_K), filter=where,
                with_payload=True, prefetches=[
                    edge.Prefetch(limit=depth, query=edge.Query.Nearest(vector, using=vector_name), filter=where,
                                  params=params, score_threshold=request.thresholds.get(vector_name))
                    for vector_name, vector in request.vectors.items()])
        else:
            [(vector_name, vector)] = request.vectors.items()
            edge_request = edge.QueryRequest(
                limit=request.limit, offset=request.offset, query=edge.Query.Nearest(vector, using=vector_name),
                filter=where, params=params, score_threshold=request.thresholds.get(vector_name),
                with_payload=True)
        with self._lock:
            found = self._shard(name).query(edge_request)
        return [ScoredHit(str(p.id), p.score, p.payload or {}) for p in found]

    def query_groups(self, name: str, request: VectorQuery, *, group_by: str, groups: int,
                     group_size: int) -> list[list[ScoredHit]]:
        # Edge has no group query: rank deep enough, then group here.
        return group_ranked(lambda depth: self.query(name, replace(request, limit=depth, offset=0)),
                            group_by=group_by, groups=groups, group_size=group_size,
                            start_depth=groups * group_size * 4)

    # ---- lifecycle -----------------------------------------------------------------------
    def _optimize(self, name: str) -> None:
        log.info("building the search index of %s (%d new points)", name, self._pending.get(name, 0))
        started, cpu_started = time.perf_counter(), time.process_time()
        self._shard(name).optimize()
        self.build_seconds += time.perf_counter() - started
        self.build_cpu_seconds += time.process_time() - cpu_started
        self._pending[name] = 0

    def optimize(self) -> None:
        """Build the HNSW graphs of everything written so far (blocks; holds the GIL)."""
        with self._lock:
            for name in list(self._shards):
                if self._pending.get(name):
                    self._optimize(name)

    def close(self) -> None:
        with self._lock:
            if not self.temporary:
                with contextlib.suppress(Exception):
                    self.optimize()
            for shard in self._shards.values():
                with contextlib.suppress(Exception):
                    shard.flush()
                shard.close()
            self._shards.clear()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            if self.temporary:
                shutil.rmtree(self.folder, ignore_errors=True)


def _edge_version() -> str:
    from importlib.metadata import version

    return version("qdrant-edge-py")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# ---- filters: qdrant-client's models -> edge's --------------------------------------------

def edge_filter(flt: models.Filter | None) -> edge.Filter | None:
    if flt is None:
        return None
    return edge.Filter(must=_conditions(flt.must), should=_conditions(flt.should),
                       must_not=_conditions(flt.must_not),
                       min_should=edge.MinShould(conditions=_conditions(flt.min_should.conditions),
                                                 min_count=flt.min_should.min_count)
                       if flt.min_should else None)


def _conditions(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    if not isinstance(conditions, list):
        conditions = [conditions]
    return [_condition(c) for c in conditions]


def _condition(c: Any) -> Any:
    if isinstance(c, models.Filter):
        return edge_filter(c)
    if isinstance(c, models.FieldCondition):
        return edge.FieldCondition(
            key=c.key, match=_match(c.match) if c.match is not None else None,
            range=edge.RangeFloat(gte=c.range.gte, gt=c.range.gt, lte=c.range.lte, lt=c.range.lt)
            if isinstance(c.range, models.Range) else None,
            values_count=edge.ValuesCount(lt=c.values_count.lt, gt=c.values_count.gt, lte=c.values_count.lte,
                                          gte=c.values_count.gte) if c.values_count else None,
            is_empty=c.is_empty, is_null=c.is_null)
    if isinstance(c, models.IsEmptyCondition):
        return edge.IsEmptyCondition(key=c.is_empty.key)
    if isinstance(c, models.IsNullCondition):
        return edge.IsNullCondition(key=c.is_null.key)
    if isinstance(c, models.HasIdCondition):
        return edge.HasIdCondition(point_ids={str(i) for i in c.has_id})
    if isinstance(c, models.NestedCondition):
        return edge.NestedCondition(key=c.nested.key, filter=edge_filter(c.nested.filter))
    raise StoreBackendError(f"the embedded store cannot apply the filter condition {type(c).__name__}")


def _match(m: Any) -> Any:
    if isinstance(m, models.MatchValue):
        return edge.MatchValue(value=m.value)
    if isinstance(m, models.MatchText):
        return edge.MatchText(text=m.text)
    if isinstance(m, models.MatchAny):
        return edge.MatchAny(any=list(m.any))
    if isinstance(m, models.MatchExcept):
        return edge.MatchExcept(except_=list(m.except_))
    if isinstance(m, models.MatchPhrase):
        return edge.MatchPhrase(phrase=m.phrase)
    if isinstance(m, models.MatchTextAny):
        return edge.MatchTextAny(text_any=m.text_any)
    raise StoreBackendError(f"the embedded store cannot apply the match {type(m).__name__}")
