"""The index store: scenes and asset status records, over one engine interface.

SceneStore is sceneline's index on top of a StoreBackend (backend.py): Qdrant's engine embedded
in this process for a local folder (the default), qdrant-client for a Qdrant server, or the
process that owns a local folder (engines.py picks; one engine per folder and process).
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any, Iterator, Sequence

from qdrant_client import models

from sceneline.schemas.failures import UserError
from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, SearchHit, scene_point_id
from sceneline.schemas.assets import utc_now
from sceneline.schemas.ids import asset_point_id, scene_point_ids, speech_point_id
from sceneline.schemas.qdrant_layout import (
    ASSET_PAYLOAD_INDEXES,
    LAYOUT_KEY,
    MEDIA_PAYLOAD_INDEXES,
    SCENE_PAYLOAD_INDEXES,
    SPEECH_PAYLOAD_INDEXES,
    SPLIT_LAYOUT,
    TEXT_VECTOR,
)
from sceneline.schemas.speech import SpeechSegment
from sceneline.transforms.store.backend import CollectionSpec, StoreBackend, StorePoint, VectorQuery, filter_to_json
from sceneline.transforms.store.config import (  # noqa: F401  (the public import path)
    DEFAULT_COLLECTION,
    DEFAULT_LOCAL_PATH,
    StoreConfig,
    StoreConfigError,
    StoreUnreachableError,
    require_reachable,
    store_config,
)
from sceneline.transforms.store.engines import close_shared_clients, shared_backend  # noqa: F401
from sceneline.transforms.store.asset_filters import resolve_asset_conditions
from sceneline.transforms.store.payloads import (  # noqa: F401
    hit_from_point,
    joined,
    media_payload,
    scene_payload,
    speech_hit,
    speech_payload,
)
from sceneline.transforms.store.speech_ranking import fuse_rrf, rank_lexical

UPSERT_CHUNK = 256
SCROLL_PAGE = 512
# Asset filters resolved into asset ids, per engine (see SceneStore._assets_matching):
# (media collection, filter) -> (the collection's version, (asset ids, complement)).
RESOLVED_PER_BACKEND = 256
_Resolved = dict[tuple[str, str], tuple[int, tuple[list[str], bool]]]
_RESOLVED: "weakref.WeakKeyDictionary[StoreBackend, _Resolved]" = weakref.WeakKeyDictionary()
_RESOLVED_LOCK = threading.Lock()


class IndexMismatchError(UserError, RuntimeError):
    """The collection exists with vectors that do not fit the models of this run."""


def _match(field: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=value))


class SceneStore:
    """Read and write sceneline's index (see schemas/qdrant_layout.py for the layout)."""

    def __init__(self, config: StoreConfig, backend: StoreBackend | None = None):
        self.config = config
        self.names = config.names
        # A backend given here (tests, benchmarks) is the caller's to close.
        self.backend = backend if backend is not None else shared_backend(config)
        self._split: bool | None = None  # the scenes collection's layout, once it exists

    @property
    def split(self) -> bool:
        """Whether the index keeps asset fields once per asset (the split layout; see
        schemas/qdrant_layout.py). A collection not made yet will be made split."""
        if self._split is None:
            spec = self.backend.collection_spec(self.names.scenes)
            if spec is None:
                return True
            self._split = spec.metadata.get(LAYOUT_KEY) == SPLIT_LAYOUT
        return self._split

    # ---- collections -------------------------------------------------------------------
    def collections_exist(self) -> bool:
        return self.backend.collection_exists(self.names.scenes)

    def ensure_collections(self, vector_dims: dict[str, int], models_used: dict[str, str]) -> None:
        """Create the collections (or check that the existing ones fit these models)."""
        if self.backend.collection_exists(self.names.scenes):
            self._check_compatible(vector_dims, models_used)
        else:
            self.backend.create_collection(self.names.scenes, CollectionSpec(
                vectors=dict(vector_dims), payload_indexes=dict(SCENE_PAYLOAD_INDEXES),
                metadata={"models": models_used, "vector_dims": vector_dims, LAYOUT_KEY: SPLIT_LAYOUT}))
        if self.split and not self.backend.collection_exists(self.names.media):
            self.backend.create_collection(self.names.media, CollectionSpec(
                vectors={}, payload_indexes=dict(MEDIA_PAYLOAD_INDEXES)))
        if not self.backend.collection_exists(self.names.assets):
            self.backend.create_collection(self.names.assets, CollectionSpec(
                vectors={}, payload_indexes=dict(ASSET_PAYLOAD_INDEXES)))
        if not self.backend.collection_exists(self.names.speech):
            # Segments carry the scenes' sentence-model vector; without one, lexical search only.
            text = {TEXT_VECTOR: vector_dims[TEXT_VECTOR]} if TEXT_VECTOR in vector_dims else {}
            self.backend.create_collection(self.names.speech, CollectionSpec(
                vectors=text, payload_indexes=dict(SPEECH_PAYLOAD_INDEXES),
                metadata={"models": {k: v for k, v in models_used.items() if k == TEXT_VECTOR}}))

    def ensure_collections_like(self, model: "SceneStore") -> None:
        """Create the collections with `model`'s vectors and models (or check that they fit them)."""
        info = model.index_info()
        self.ensure_collections(dict(info.get("vector_dims", {})), dict(info.get("models", {})))

    def _check_compatible(self, vector_dims: dict[str, int], models_used: dict[str, str]) -> None:
        spec = self.backend.collection_spec(self.names.scenes)
        existing = spec.vectors if spec else {}
        recorded = (spec.metadata if spec else {}).get("models", {})
        for name, dim in vector_dims.items():
            if name not in existing:
                raise IndexMismatchError(
                    f"collection {self.names.scenes!r} has no {name!r} vector; index into a new collection")
            if existing[name] != dim or (recorded.get(name) and recorded[name] != models_used.get(name)):
                raise IndexMismatchError(
                    f"collection {self.names.scenes!r} holds {name!r} vectors of {existing[name]} "
                    f"dimensions from {recorded.get(name, 'an unknown model')}; this run makes {dim} from "
                    f"{models_used.get(name)}. Use --collection NAME for a new index.")

    def index_info(self) -> dict[str, Any]:
        """What built the index: {"models": {vector: spec}, "vector_dims": {...}}."""
        spec = self.backend.collection_spec(self.names.scenes)
        return dict(spec.metadata) if spec else {}

    # ---- scenes --------------------------------------------------------------------------
    def write_scenes(self, analyzed: AnalyzedAsset) -> int:
        """Upsert every scene of an asset (deterministic ids) and drop scenes a previous run
        made beyond the current count. Returns the number of scenes written."""
        asset_id = analyzed.asset.asset_id
        split = self.split
        if split:  # the asset's fields first: no scene is ever found without them
            self._write_media(analyzed)
        ids = scene_point_ids(asset_id, [scene.index for scene in analyzed.scenes])
        points = [StorePoint(id=point_id, vectors=dict(scene.vectors), payload=scene_payload(analyzed, i, split=split))
                  for i, (point_id, scene) in enumerate(zip(ids, analyzed.scenes))]
        for chunk in iter_chunks(points, UPSERT_CHUNK):
            self.backend.upsert(self.names.scenes, chunk)
        # An asset's stored scenes are always a prefix 0..m-1 (written in order, removed from the
        # end), so a scene beyond the new count exists only if the point right after does: one
        # lookup by id instead of a filtered delete on every write.
        if self.backend.retrieve(self.names.scenes, [scene_point_id(asset_id, len(points))]):
            self.backend.delete(self.names.scenes, where=models.Filter(must=[
                _match("asset_id", asset_id),
                models.FieldCondition(key="scene_index", range=models.Range(gte=len(points))),
            ]))
        return len(points)

    def delete_scenes(self, asset_id: str) -> None:
        """Remove an asset's scenes, its speech segments, and then its media point."""
        for collection in (self.names.scenes, self.names.speech):
            if self.backend.collection_exists(collection):
                self.backend.delete(collection, where=models.Filter(must=[_match("asset_id", asset_id)]))
        if self.backend.collection_exists(self.names.media):
            self.backend.delete(self.names.media, ids=[asset_point_id(asset_id)])

    # ---- media points (the split layout): an asset's fields, once ----------------------------
    def _write_media(self, analyzed: AnalyzedAsset) -> None:
        self.backend.upsert(self.names.media, [StorePoint(id=asset_point_id(analyzed.asset.asset_id),
                                                          payload=media_payload(analyzed))])

    def _media_of(self, asset_ids: set[str]) -> dict[str, dict[str, Any]]:
        if not asset_ids or not self.split:
            return {}
        found = self.backend.retrieve(self.names.media, [asset_point_id(a) for a in sorted(asset_ids)])
        return {p.payload["asset_id"]: p.payload for p in found}

    def _joined(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Payloads with their assets' fields (one lookup for all of them)."""
        media = self._media_of({p["asset_id"] for p in payloads})
        return [joined(p, media.get(p["asset_id"])) for p in payloads]

    def _resolved(self, flt: models.Filter | None) -> models.Filter | None:
        """A filter that scene and speech points can answer: conditions on asset fields become
        conditions on asset ids (the split layout; see asset_filters.py)."""
        return resolve_asset_conditions(flt, self._assets_matching) if self.split else flt

    def _assets_matching(self, asset_filter: models.Filter) -> tuple[list[str], bool]:
        """The assets a filter on asset fields admits, or (True) those it does not, whichever are
        fewer. Kept while the media collection is unchanged: a library's searches repeat their
        filters (the pages of one search, a console's facets), and reading the assets is most of
        such a search's time."""
        version = self.backend.collection_version(self.names.media)
        key = (self.names.media, json.dumps(filter_to_json(asset_filter), sort_keys=True))
        with _RESOLVED_LOCK:
            cache = _RESOLVED.setdefault(self.backend, {})
            kept = cache.get(key)
        if version is not None and kept is not None and kept[0] == version:
            return kept[1]
        matching = self.backend.count(self.names.media, asset_filter)
        others = self.backend.count(self.names.media) - matching
        complement = others < matching
        where = models.Filter(must_not=[asset_filter]) if complement else asset_filter
        found = [p.payload["asset_id"] for p in self.iter_points(self.names.media, where)], complement
        if version is not None:
            with _RESOLVED_LOCK:
                if len(cache) >= RESOLVED_PER_BACKEND:
                    cache.pop(next(iter(cache)))
                cache[key] = (version, found)
        return found

    # ---- speech segments -----------------------------------------------------------------
    def write_speech(self, analyzed: AnalyzedAsset) -> int:
        """Upsert an asset's speech segments (deterministic ids: redelivery rewrites the same
        points) and drop segments a previous run made beyond the current count."""
        if not self.backend.collection_exists(self.names.speech):
            return 0  # an index made before speech was stored: `ensure_collections` adds it
        asset_id = analyzed.asset.asset_id
        split = self.split
        if split and analyzed.speech and not self.backend.retrieve(
                self.names.media, [asset_point_id(asset_id)]):
            # write_scenes, which runs first in the pipeline, wrote it: one lookup, not a second write
            self._write_media(analyzed)
        points = [StorePoint(id=speech_point_id(asset_id, seg.index),
                             vectors={TEXT_VECTOR: seg.vector} if seg.vector is not None else {},
                             payload=speech_payload(analyzed, seg, split=split))
                  for seg in analyzed.speech]
        for chunk in iter_chunks(points, UPSERT_CHUNK):
            self.backend.upsert(self.names.speech, chunk)
        # Segments are a prefix 0..m-1 too (see write_scenes).
        if self.backend.retrieve(self.names.speech, [speech_point_id(asset_id, len(points))]):
            self.backend.delete(self.names.speech, where=models.Filter(must=[
                _match("asset_id", asset_id),
                models.FieldCondition(key="segment_index", range=models.Range(gte=len(points))),
            ]))
        return len(points)

    def speech_of(self, asset_id: str) -> list[SpeechSegment]:
        """An asset's speech segments in time order (empty: no speech, or not transcribed)."""
        points = self.iter_points(self.names.speech, models.Filter(must=[_match("asset_id", asset_id)]))
        return sorted((SpeechSegment.from_payload(p.payload) for p in points), key=lambda s: s.index)

    def query_speech(self, text: str | None, vector: list[float] | None, *, limit: int, offset: int = 0,
                     query_filter: models.Filter | None = None, lexical: bool = True,
                     threshold: float | None = None) -> list[SearchHit]:
        """Speech segments for a query, best first: the query's words (lexical: `text` given and
        `lexical`), its meaning (`vector`: the segments' `text` vectors), or both fused (RRF)."""
        if not self.backend.collection_exists(self.names.speech):
            return []
        query_filter = self._resolved(query_filter)
        request = VectorQuery(vectors={TEXT_VECTOR: vector} if vector is not None else {}, limit=limit,
                              offset=offset, where=query_filter, thresholds={TEXT_VECTOR: threshold})
        depth = request.prefetch_depth()
        rankings: list[list[str]] = []
        found: dict[str, tuple[dict[str, Any], float]] = {}
        if vector is not None:
            hits = self.backend.query(self.names.speech, VectorQuery(
                vectors=request.vectors, limit=depth, where=query_filter, thresholds=request.thresholds))
            rankings.append([h.id for h in hits])
            found.update({h.id: (h.payload, h.score) for h in hits})
        if lexical and text:
            # The full-text index finds segments with any of the words; how well each matches is ranked here.
            words = models.FieldCondition(key="text", match=models.MatchTextAny(text_any=text))
            where = models.Filter(must=[words, *([query_filter] if query_filter else [])])
            points, _next = self.backend.scroll(self.names.speech, where, limit=depth)
            ids = {id(p.payload): p.id for p in points}
            ranked = rank_lexical(text, [p.payload for p in points])
            rankings.append([ids[id(payload)] for payload, _score in ranked])
            for payload, score in ranked:
                found.setdefault(ids[id(payload)], (payload, score))
        if not rankings:
            return []
        ordered = ([(point_id, found[point_id][1]) for point_id in rankings[0]] if len(rankings) == 1
                   else fuse_rrf(rankings))
        page = ordered[offset:offset + limit]
        payloads = self._joined([found[point_id][0] for point_id, _score in page])
        return [speech_hit(payload, score) for payload, (_id, score) in zip(payloads, page)]

    def count_scenes(self, asset_id: str | None = None, *, where: models.Filter | None = None) -> int:
        """Scenes that a filter admits (of one asset, with `asset_id`), or all."""
        if not self.backend.collection_exists(self.names.scenes):
            return 0
        if asset_id:
            where = models.Filter(must=[_match("asset_id", asset_id), *([where] if where else [])])
        return self.backend.count(self.names.scenes, self._resolved(where))

    def scenes_of(self, asset_id: str) -> list[dict[str, Any]]:
        """Payloads of an asset's scenes, in order, with the asset's fields."""
        flt = models.Filter(must=[_match("asset_id", asset_id)])
        payloads = self._joined([p.payload for p in self.iter_points(self.names.scenes, flt)])
        return sorted(payloads, key=lambda p: p["scene_index"])

    def search(self, vector_name: str, vector: list[float], *, limit: int = 10,
               query_filter: models.Filter | None = None) -> list[SearchHit]:
        return self.query_scenes({vector_name: vector}, limit=limit, query_filter=query_filter)

    # ---- hybrid queries: one vector, or several fused by reciprocal rank; optionally grouped --
    def query_scenes(self, vectors: dict[str, list[float]], *, limit: int, offset: int = 0,
                     query_filter: models.Filter | None = None,
                     thresholds: dict[str, float | None] | None = None) -> list[SearchHit]:
        """Best scenes first, skipping `offset`. Several vectors: their rankings fused (RRF)."""
        request = VectorQuery(vectors=vectors, limit=limit, offset=offset, where=self._resolved(query_filter),
                              thresholds=dict(thresholds or {}))
        found = self.backend.query(self.names.scenes, request)
        return [hit_from_point(payload, h.score) for payload, h in zip(self._joined([h.payload for h in found]), found)]

    def query_scene_groups(self, vectors: dict[str, list[float]], *, groups: int, group_size: int,
                           query_filter: models.Filter | None = None,
                           thresholds: dict[str, float | None] | None = None) -> list[list[SearchHit]]:
        """The best `groups` assets, each with up to `group_size` of its best scenes."""
        request = VectorQuery(vectors=vectors, limit=groups * group_size, where=self._resolved(query_filter),
                              thresholds=dict(thresholds or {}))
        found = self.backend.query_groups(self.names.scenes, request, group_by="asset_id", groups=groups,
                                          group_size=group_size)
        media = self._media_of({h.payload["asset_id"] for group in found for h in group})
        return [[hit_from_point(joined(h.payload, media.get(h.payload["asset_id"])), h.score) for h in group]
                for group in found]

    # ---- asset status --------------------------------------------------------------------
    def put_status(self, record: AssetRecord) -> None:
        if record.asset_id is None:
            return  # skipped inputs have no place in the index
        self.backend.upsert(self.names.assets, [StorePoint(id=asset_point_id(record.asset_id),
                                                           payload=record.to_payload())])

    def get_status(self, asset_id: str) -> AssetRecord | None:
        if not self.backend.collection_exists(self.names.assets):
            return None
        found = self.backend.retrieve(self.names.assets, [asset_point_id(asset_id)])
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
                   for p in self.iter_points(self.names.assets, models.Filter(must=must) if must else None)]
        return sorted(records, key=lambda r: (r.uri, r.asset_id or ""))

    def count_status(self, run_id: str) -> dict[str, int]:
        """A run's assets by status (only statuses it has). Counted by the store's payload
        indexes, not read: a progress bar asks every half second, over runs of any size."""
        if not self.backend.collection_exists(self.names.assets):
            return {}
        counts = {status.value: self.backend.count(self.names.assets, models.Filter(must=[
            _match("run_id", run_id), _match("status", status.value)])) for status in AssetStatus}
        return {status: n for status, n in counts.items() if n}

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
    def iter_points(self, collection: str, flt: models.Filter | None = None, *,
                    with_vectors: bool = False) -> Iterator[StorePoint]:
        """Every point of a collection matching the filter, page by page."""
        offset = None
        while True:
            if not self.backend.collection_exists(collection):
                return
            points, offset = self.backend.scroll(collection, flt, limit=SCROLL_PAGE, offset=offset,
                                                 with_vectors=with_vectors)
            yield from points
            if offset is None:
                return


def iter_chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
