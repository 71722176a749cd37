"""The index store: scenes and asset status records in Qdrant, through one code path.

A local folder (the embedded default), ":memory:" and a Qdrant server URL all go through the
same QdrantClient calls. A local folder admits one client per process, and Qdrant's local
mode is not thread-safe, so clients are shared per process and every call takes the client's
lock.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from qdrant_client import QdrantClient, models

from sceneline.schemas.failures import UserError
from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, SearchHit, scene_point_id
from sceneline.schemas.assets import utc_now
from sceneline.schemas.ids import asset_point_id
from sceneline.schemas.settings import StoreSettings
from sceneline.transforms.store.advert import advertised_url
from sceneline.schemas.qdrant_layout import (
    ASSET_PAYLOAD_INDEXES,
    SCENE_PAYLOAD_INDEXES,
    CollectionNames,
)

DEFAULT_COLLECTION = StoreSettings.default("collection")
DEFAULT_LOCAL_PATH = ".sceneline/qdrant"
UPSERT_CHUNK = 256
_SCHEMA_TYPES = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
}


class StoreConfigError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    """Where the index lives. Exactly one of path (a folder or ":memory:") and url."""

    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = DEFAULT_COLLECTION

    def __post_init__(self) -> None:
        if bool(self.path) == bool(self.url):
            raise StoreConfigError("give exactly one of a Qdrant path (or ':memory:') and a Qdrant URL")

    @property
    def names(self) -> CollectionNames:
        return CollectionNames(self.collection)

    def describe(self) -> str:
        return self.url or ("in-memory Qdrant" if self.path == ":memory:" else f"local Qdrant at {self.path}")

    def _client_key(self) -> tuple:
        import os

        return ("path", os.path.abspath(self.path)) if self.path and self.path != ":memory:" else (
            ("memory",) if self.path else ("url", self.url, self.api_key))


def store_config(path: str | None = None, url: str | None = None, api_key: str | None = None,
                 collection: str = DEFAULT_COLLECTION) -> StoreConfig:
    """A store config from user settings: a URL wins; with neither, the local default folder."""
    if url:
        return StoreConfig(url=url, api_key=api_key, collection=collection)
    return StoreConfig(path=path or DEFAULT_LOCAL_PATH, collection=collection)


def require_reachable(config: StoreConfig, timeout_s: float = 3.0) -> None:
    """A Qdrant server that does not answer is one line for the user, found before any model
    loads, instead of qdrant-client's chained tracebacks after it."""
    if not config.url:
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(config.url if "://" in config.url else f"http://{config.url}")
    port = parts.port or 6333  # qdrant-client's default when the URL names none
    try:
        socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s).close()
    except OSError as exc:
        raise StoreUnreachableError(f"no Qdrant server answers at {config.url} ({exc.strerror or exc}); "
                                    "start it, or check --qdrant-url") from None


class StoreUnreachableError(UserError, ConnectionError):
    pass


_clients: dict[tuple, tuple[QdrantClient, threading.RLock]] = {}
_clients_lock = threading.Lock()


def _open_client(config: StoreConfig) -> QdrantClient:
    if config.url:
        return QdrantClient(url=config.url, api_key=config.api_key, timeout=60)
    if config.path == ":memory:":
        return QdrantClient(location=":memory:")
    # Another process owns this folder and serves it: talk to it over HTTP, the folder admits
    # one process at a time.
    url = advertised_url(config.path)
    if url:
        return QdrantClient(url=url, timeout=60)
    try:
        return QdrantClient(path=config.path)
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise StoreBusyError(
            f"the index at {config.path} is in use by another process that does not share it; stop that "
            f"process, or run it as `sceneline serve --qdrant-path {config.path}` and this command goes "
            "through it") from None


class StoreBusyError(UserError, RuntimeError):
    """A local folder held by another process that serves it to nobody."""


def _shared_client(config: StoreConfig) -> tuple[QdrantClient, threading.RLock]:
    key = config._client_key()
    with _clients_lock:
        if key not in _clients:
            _clients[key] = (_open_client(config), threading.RLock())
        return _clients[key]


def close_shared_clients() -> None:
    """Close every client this process opened (frees the local folder for other processes)."""
    with _clients_lock:
        for client, lock in _clients.values():
            with lock:
                client.close()
        _clients.clear()


class IndexMismatchError(UserError, RuntimeError):
    """The collection exists with vectors that do not fit the models of this run."""


def _match(field: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=value))


def scene_payload(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
    a, p, s = analyzed.asset, analyzed.probe, analyzed.scenes[scene_index]
    return {
        "asset_id": a.asset_id,
        "uri": a.uri,
        "filename": a.filename,
        "media_type": a.media_type.value,
        "scene_index": s.index,
        "scene_count": len(analyzed.scenes),
        "start_s": s.start_s,
        "end_s": s.end_s,
        "start_frame": s.start_frame,
        "end_frame": s.end_frame,
        "transition_in": s.transition_in.value,
        "keyframe_s": [k.time_s for k in s.keyframes],
        "thumbnail_uri": s.thumbnail_uri,
        # Asset-level fields at the top level, so filters read like TwelveLabs' ({"duration": ...}).
        "duration": p.duration_s,
        "width": p.display_width,
        "height": p.display_height,
        "fps": p.avg_fps,
        "codec": p.codec,
        "container": p.container,
        "size_bytes": a.size_bytes,
        "generation": a.generation,
        "metadata": a.user_metadata,
        "models": analyzed.models,
        **s.enrichment,
    }


class SceneStore:
    """Read and write sceneline's index (see schemas/qdrant_layout.py for the layout)."""

    def __init__(self, config: StoreConfig):
        self.config = config
        self.names = config.names
        self._client, self._lock = _shared_client(config)

    # ---- collections -------------------------------------------------------------------
    def collections_exist(self) -> bool:
        with self._lock:
            return self._client.collection_exists(self.names.scenes)

    def ensure_collections(self, vector_dims: dict[str, int], models_used: dict[str, str]) -> None:
        """Create the collections (or check that the existing ones fit these models)."""
        with self._lock:
            if self._client.collection_exists(self.names.scenes):
                self._check_compatible(vector_dims, models_used)
            else:
                self._client.create_collection(
                    self.names.scenes,
                    vectors_config={name: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                                    for name, dim in vector_dims.items()},
                    metadata={"models": models_used, "vector_dims": vector_dims},
                )
                self._create_payload_indexes(self.names.scenes, SCENE_PAYLOAD_INDEXES)
            if not self._client.collection_exists(self.names.assets):
                self._client.create_collection(self.names.assets, vectors_config={})
                self._create_payload_indexes(self.names.assets, ASSET_PAYLOAD_INDEXES)

    def _create_payload_indexes(self, collection: str, fields: dict[str, str]) -> None:
        with warnings.catch_warnings():
            # Local mode ignores payload indexes (and says so); a server needs them for fast filters.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            for field, kind in fields.items():
                self._client.create_payload_index(collection, field, _SCHEMA_TYPES[kind])

    def _check_compatible(self, vector_dims: dict[str, int], models_used: dict[str, str]) -> None:
        info = self._client.get_collection(self.names.scenes)
        existing = info.config.params.vectors or {}
        recorded = (info.config.metadata or {}).get("models", {})
        for name, dim in vector_dims.items():
            if name not in existing:
                raise IndexMismatchError(
                    f"collection {self.names.scenes!r} has no {name!r} vector; index into a new collection")
            if existing[name].size != dim or (recorded.get(name) and recorded[name] != models_used.get(name)):
                raise IndexMismatchError(
                    f"collection {self.names.scenes!r} holds {name!r} vectors of {existing[name].size} "
                    f"dimensions from {recorded.get(name, 'an unknown model')}; this run makes {dim} from "
                    f"{models_used.get(name)}. Use --collection NAME for a new index.")

    def index_info(self) -> dict[str, Any]:
        """What built the index: {"models": {vector: spec}, "vector_dims": {...}}."""
        with self._lock:
            if not self._client.collection_exists(self.names.scenes):
                return {}
            return dict(self._client.get_collection(self.names.scenes).config.metadata or {})

    # ---- scenes --------------------------------------------------------------------------
    def write_scenes(self, analyzed: AnalyzedAsset) -> int:
        """Upsert every scene of an asset (deterministic ids) and drop scenes a previous run
        made beyond the current count. Returns the number of scenes written."""
        asset_id = analyzed.asset.asset_id
        points = [
            models.PointStruct(
                id=scene_point_id(asset_id, scene.index),
                vector={name: vec for name, vec in scene.vectors.items()},
                payload=scene_payload(analyzed, i),
            )
            for i, scene in enumerate(analyzed.scenes)
        ]
        with self._lock:
            for chunk in iter_chunks(points, UPSERT_CHUNK):
                self._client.upsert(self.names.scenes, chunk, wait=True)
            # An asset's stored scenes are always a prefix 0..m-1 (written in order, removed from the
            # end), so a scene beyond the new count exists only if the point right after does. Looking
            # that one id up is cheap; the filtered delete scans the whole index in local mode, which
            # made writing N scenes cost O(N^2) there.
            if self._client.retrieve(self.names.scenes, [scene_point_id(asset_id, len(points))],
                                     with_payload=False, with_vectors=False):
                self._client.delete(self.names.scenes, models.FilterSelector(filter=models.Filter(must=[
                    _match("asset_id", asset_id),
                    models.FieldCondition(key="scene_index", range=models.Range(gte=len(points))),
                ])), wait=True)
        return len(points)

    def delete_scenes(self, asset_id: str) -> None:
        with self._lock:
            self._client.delete(self.names.scenes, models.FilterSelector(
                filter=models.Filter(must=[_match("asset_id", asset_id)])), wait=True)

    def count_scenes(self, asset_id: str | None = None) -> int:
        flt = models.Filter(must=[_match("asset_id", asset_id)]) if asset_id else None
        with self._lock:
            if not self._client.collection_exists(self.names.scenes):
                return 0
            return self._client.count(self.names.scenes, count_filter=flt, exact=True).count

    def scenes_of(self, asset_id: str) -> list[dict[str, Any]]:
        """Payloads of an asset's scenes, in order."""
        flt = models.Filter(must=[_match("asset_id", asset_id)])
        payloads = [p.payload for p in self._scroll(self.names.scenes, flt)]
        return sorted(payloads, key=lambda p: p["scene_index"])

    def search(self, vector_name: str, vector: list[float], *, limit: int = 10,
               query_filter: models.Filter | None = None) -> list[SearchHit]:
        with self._lock:
            result = self._client.query_points(
                self.names.scenes, query=vector, using=vector_name, limit=limit,
                query_filter=query_filter, with_payload=True)
        return [hit_from_point(p.payload, p.score) for p in result.points]

    # ---- hybrid queries: one vector, or several fused by reciprocal rank; optionally grouped --
    def query_scenes(self, vectors: dict[str, list[float]], *, limit: int, offset: int = 0,
                     query_filter: models.Filter | None = None,
                     thresholds: dict[str, float | None] | None = None) -> list[SearchHit]:
        """Best scenes first, skipping `offset`. Several vectors: Qdrant fuses their rankings."""
        query = _query_args(vectors, offset + limit, query_filter, thresholds)
        with self._lock:
            result = self._client.query_points(self.names.scenes, limit=limit, offset=offset,
                                               query_filter=query_filter, with_payload=True, **query)
        return [hit_from_point(p.payload, p.score) for p in result.points]

    def query_scene_groups(self, vectors: dict[str, list[float]], *, groups: int, group_size: int,
                           query_filter: models.Filter | None = None,
                           thresholds: dict[str, float | None] | None = None) -> list[list[SearchHit]]:
        """The best `groups` assets, each with up to `group_size` of its best scenes."""
        query = _query_args(vectors, groups * group_size, query_filter, thresholds)
        with self._lock:
            result = self._client.query_points_groups(
                self.names.scenes, group_by="asset_id", limit=groups, group_size=group_size,
                query_filter=query_filter, with_payload=True, **query)
        return [[hit_from_point(h.payload, h.score) for h in group.hits] for group in result.groups]

    # ---- asset status --------------------------------------------------------------------
    def put_status(self, record: AssetRecord) -> None:
        if record.asset_id is None:
            return  # skipped inputs have no place in the index
        point = models.PointStruct(id=asset_point_id(record.asset_id), vector={}, payload=record.to_payload())
        with self._lock:
            self._client.upsert(self.names.assets, [point], wait=True)

    def get_status(self, asset_id: str) -> AssetRecord | None:
        with self._lock:
            if not self._client.collection_exists(self.names.assets):
                return None
            found = self._client.retrieve(self.names.assets, [asset_point_id(asset_id)], with_payload=True)
        return AssetRecord.from_payload(found[0].payload) if found else None

    def list_status(self, *, status: AssetStatus | None = None, run_id: str | None = None,
                    uri: str | None = None) -> list[AssetRecord]:
        must = []
        if status is not None:
            must.append(_match("status", status.value))
        if run_id is not None:
            must.append(_match("run_id", run_id))
        if uri is not None:
            must.append(_match("uri", uri))
        records = [AssetRecord.from_payload(p.payload)
                   for p in self._scroll(self.names.assets, models.Filter(must=must) if must else None)]
        return sorted(records, key=lambda r: (r.uri, r.asset_id or ""))

    def count_status(self, run_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.list_status(run_id=run_id):
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return counts

    def supersede(self, uri: str, current_asset_id: str, run_id: str | None = None,
                  generation: str | None = None) -> list[str]:
        """Remove the scenes of older assets at the same URI (a file edited in place, a new
        object generation) and mark them deleted. Returns their ids.

        With a generation (a bucket object), only older generations go: events arrive in any
        order, and a late event of an old generation must never retire the live one."""
        replaced = []
        for record in self.list_status(uri=uri):
            if not record.asset_id or record.asset_id == current_asset_id or record.status == AssetStatus.DELETED:
                continue
            if generation is not None and record.generation is not None and \
                    int(record.generation) > int(generation):
                continue
            self.retire(record, f"replaced by asset {current_asset_id}", run_id)
            replaced.append(record.asset_id)
        return replaced

    def newer_generation(self, uri: str, generation: str) -> AssetRecord | None:
        """The newest record of a later generation of the object at `uri`, if any: the bucket no
        longer holds `generation`'s bytes, so that event is stale."""
        later = [r for r in self.list_status(uri=uri)
                 if r.generation is not None and int(r.generation) > int(generation)]
        return max(later, key=lambda r: int(r.generation)) if later else None

    def retire(self, record: AssetRecord, reason: str, run_id: str | None = None) -> AssetRecord:
        """Remove an asset's scenes and mark it deleted (its status record stays, for audit)."""
        self.delete_scenes(record.asset_id)
        retired = record.model_copy(update={"status": AssetStatus.DELETED, "scene_count": 0, "error_message": reason,
                                            "run_id": run_id or record.run_id, "updated_at": utc_now()})
        self.put_status(retired)
        return retired

    def delete_asset(self, asset_id: str, reason: str = "deleted") -> AssetRecord | None:
        """Remove an asset's scenes and mark it deleted; None when the store has no record of it."""
        record = self.get_status(asset_id)
        if record is None:
            self.delete_scenes(asset_id)
            return None
        return self.retire(record, reason)

    # ---- helpers -------------------------------------------------------------------------
    def _scroll(self, collection: str, flt: models.Filter | None) -> Iterator[models.Record]:
        offset = None
        while True:
            with self._lock:
                if not self._client.collection_exists(collection):
                    return
                points, offset = self._client.scroll(collection, scroll_filter=flt, limit=512,
                                                     offset=offset, with_payload=True, with_vectors=False)
            yield from points
            if offset is None:
                return


def hit_from_point(payload: dict[str, Any], score: float) -> SearchHit:
    return SearchHit(
        asset_id=payload["asset_id"], uri=payload["uri"], filename=payload.get("filename", ""),
        media_type=payload.get("media_type", ""), scene_index=payload["scene_index"],
        start_s=payload["start_s"], end_s=payload["end_s"], score=score,
        thumbnail_uri=payload.get("thumbnail_uri"), payload=payload,
        description=payload.get("description"), tags=payload.get("tags") or [],
        visible_text=payload.get("visible_text"), text_regions=payload.get("text_regions") or [],
    )


# Fusion ranks the union of each vector's best candidates: take them deep enough that a scene
# ranked well by one vector but poorly by the other still competes.
PREFETCH_MIN = 100
PREFETCH_FACTOR = 4
PREFETCH_MAX = 10_000


def _query_args(vectors: dict[str, list[float]], wanted: int, query_filter: models.Filter | None,
                thresholds: dict[str, float | None] | None) -> dict[str, Any]:
    """query_points arguments: a plain vector query, or a prefetch per vector fused with RRF.

    A threshold is a least cosine similarity per vector, so with fusion it bounds each
    vector's candidates (RRF scores themselves are ranks, not similarities)."""
    thresholds = thresholds or {}
    if len(vectors) == 1:
        [(name, vector)] = vectors.items()
        return {"query": vector, "using": name, "score_threshold": thresholds.get(name)}
    depth = min(max(PREFETCH_MIN, PREFETCH_FACTOR * wanted), PREFETCH_MAX)
    return {
        "prefetch": [models.Prefetch(query=vector, using=name, limit=depth, filter=query_filter,
                                     score_threshold=thresholds.get(name))
                     for name, vector in vectors.items()],
        "query": models.FusionQuery(fusion=models.Fusion.RRF),
    }


def iter_chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
