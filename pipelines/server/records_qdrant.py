"""The server's records (records.py) in the Qdrant server that holds the scenes, so any number of
replicas of `sceneline serve` share them and keep nothing on their own disks.

Each kind of record is a collection of payload-only points (no vectors), `<collection>-records-<kind>`
(beside the scene collections `<collection>-<index id>`, whose index ids are hex and never clash). A
record's key (a video id, `upload id/chunk index`, ...) becomes its point id through uuid5, so every
replica finds the same record at the same point. The fields a query filters on have payload indexes.

Qdrant has no transactions; what must hold across replicas is built from two guarantees of a Qdrant
server: a shard applies its writes one at a time, in order (with `ordering=strong`, through the shard's
leader, the same order on every replica of the shard), and a write with a filter evaluates the filter
against the point as it is when that write is applied. So:

  - compare-and-set (`_claim`): set the new fields and a fresh claim token, filtered on the old
    values, with `wait=True`; then read the point back. Of two racing claims, the second is applied
    after the first, its filter no longer matches and it changes nothing; only the first finds its
    own token. (A later claim may replace the token only from another old value, which no racing
    request of this server asks for: `move_upload` moves each session out of `active` once.)
  - insert unless present, or replace unless in some state: an upsert with `update_mode=insert_only`
    or `update_filter`, evaluated the same way (a reported chunk is never replaced).

Lists are read whole, filtered on the indexed fields, and sorted here as sqlite orders them
(created_at, then id), so both homes page alike. qdrant-client's local mode (tests) applies writes
as they come from threads; `_serial` serialises this process's calls on such a client, as a server's
shard would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
import uuid
import warnings
import weakref
from typing import Any, Iterator, Sequence

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from sceneline.pipelines.server.records import (
    COMPLETED,
    FAILED,
    PROCESSING,
    READY,
    RECEIVED,
    SIGNING_SECRET_BYTES,
    UNFINISHED,
    AssetRow,
    ChunkRow,
    IndexRow,
    Records,
    UploadRow,
    VideoRow,
    new_id,
    now_text,
)

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://sceneline/records")
STRONG = qm.WriteOrdering.STRONG
MAJORITY = qm.ReadConsistencyType.MAJORITY
SCROLL_PAGE = 1000

# Record kinds and the payload fields their queries filter on.
KINDS: dict[str, tuple[str, ...]] = {
    "server": (),
    "indexes": ("name", "deleted"),
    "videos": ("task_id", "index_id", "status", "deleted", "sha256", "asset_id"),
    "assets": ("deleted",),
    "uploads": ("status",),
    "chunks": ("upload_id", "status"),
    "search_pages": (),
    "analyze_tasks": (),
}
VIDEOS_VERSION = "videos_version"  # a `server` record every video write renews (see `searchable`)
SIGNING_SECRET = "signing_secret"

_local_locks: "weakref.WeakKeyDictionary[QdrantClient, threading.RLock]" = weakref.WeakKeyDictionary()
_local_locks_guard = threading.Lock()


def point_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


def records_collection(prefix: str, kind: str) -> str:
    return f"{prefix}-records-{kind}"


def _eq(key: str, value: Any) -> qm.FieldCondition:
    return qm.FieldCondition(key=key, match=qm.MatchValue(value=value))


def _any(key: str, values: Sequence[str]) -> qm.FieldCondition:
    return qm.FieldCondition(key=key, match=qm.MatchAny(any=list(values)))


def _row(cls: type, payload: dict[str, Any]) -> Any:
    return cls(**{f.name: payload.get(f.name) for f in dataclasses.fields(cls) if f.name in payload})


def _by_creation(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: (r.created_at, r.id))


class QdrantRecords(Records):
    """The records in `client`'s Qdrant, under collections named after `prefix` (the store's collection)."""

    def __init__(self, client: QdrantClient, prefix: str):
        super().__init__()
        self._client = client
        self._prefix = prefix
        self._serial_lock = _local_lock(client)
        self._create_collections()

    def close(self) -> None:
        """Nothing to release: the client holds no file, and an app whose lifespan runs again
        (a test client starts and stops it around each test) goes on with the same one."""

    # ---- Qdrant, one record at a time --------------------------------------------------------
    @contextlib.contextmanager
    def _serial(self) -> Iterator[None]:
        if self._serial_lock is None:
            yield
            return
        with self._serial_lock:
            yield

    def _collection(self, kind: str) -> str:
        return records_collection(self._prefix, kind)

    def _create_collections(self) -> None:
        with self._serial(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
            for kind, indexed in KINDS.items():
                name = self._collection(kind)
                if not self._client.collection_exists(name):
                    try:
                        self._client.create_collection(name, vectors_config={})
                    except Exception:  # another replica made it meanwhile; anything else shows below
                        if not self._client.collection_exists(name):
                            raise
                for field_name in indexed:
                    self._client.create_payload_index(name, field_name, qm.PayloadSchemaType.KEYWORD
                                                      if field_name != "deleted" else qm.PayloadSchemaType.BOOL,
                                                      wait=True)

    def _put(self, kind: str, key: str, payload: dict[str, Any], *, update_filter: qm.Filter | None = None,
             insert_only: bool = False) -> None:
        point = qm.PointStruct(id=point_id(kind, key), vector={}, payload=payload)
        with self._serial():
            self._client.upsert(self._collection(kind), [point], wait=True, ordering=STRONG,
                                update_filter=update_filter,
                                update_mode=qm.UpdateMode.INSERT_ONLY if insert_only else None)

    def _get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._serial():
            found = self._client.retrieve(self._collection(kind), [point_id(kind, key)], with_payload=True,
                                          consistency=MAJORITY)
        return dict(found[0].payload or {}) if found else None

    def _set(self, kind: str, key: str, fields: dict[str, Any], *, only_if: Sequence[qm.Condition] = ()) -> None:
        """Set fields of one record, if it exists and matches `only_if` as the write is applied."""
        selector = qm.Filter(must=[qm.HasIdCondition(has_id=[point_id(kind, key)]), *only_if])
        with self._serial():
            self._client.set_payload(self._collection(kind), fields, points=selector, wait=True, ordering=STRONG)

    def _set_where(self, kind: str, where: qm.Filter, fields: dict[str, Any]) -> None:
        with self._serial():
            self._client.set_payload(self._collection(kind), fields, points=where, wait=True, ordering=STRONG)

    def _claim(self, kind: str, key: str, fields: dict[str, Any], only_if: Sequence[qm.Condition]) -> bool:
        """Compare-and-set (see the module's docstring): True for the one write that changed the record."""
        token = uuid.uuid4().hex
        self._set(kind, key, {**fields, "claim": token}, only_if=only_if)
        now = self._get(kind, key)
        return now is not None and now.get("claim") == token

    def _scroll(self, kind: str, where: qm.Filter | None = None,
                fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset = None
        while True:
            with self._serial():
                points, offset = self._client.scroll(self._collection(kind), scroll_filter=where, limit=SCROLL_PAGE,
                                                     offset=offset, with_payload=list(fields) if fields else True,
                                                     with_vectors=False, consistency=MAJORITY)
            found.extend(dict(p.payload or {}) for p in points)
            if offset is None:
                return found

    def _count(self, kind: str, where: qm.Filter) -> int:
        with self._serial():
            return self._client.count(self._collection(kind), count_filter=where, exact=True).count

    # ---- moving in ------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """No index, video, asset or upload recorded yet (a new deployment)."""
        return not any(self._count(kind, qm.Filter()) for kind in ("indexes", "videos", "assets", "uploads"))

    def import_record(self, kind: str, key: str, fields: dict[str, Any]) -> None:
        """Keep a record as another home exported it (SqliteRecords.export): same kind, key and fields."""
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}")
        self._put(kind, key, fields)

    # ---- the server --------------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        # First writer wins: an insert-only upsert never replaces the secret another replica made.
        self._put("server", SIGNING_SECRET, {"value": secrets.token_hex(SIGNING_SECRET_BYTES)}, insert_only=True)
        kept = self._get("server", SIGNING_SECRET)
        if kept is None:
            raise RuntimeError(f"the signing secret written to {self._collection('server')} cannot be read back")
        return bytes.fromhex(kept["value"])

    def task_shelf(self) -> QdrantTaskShelf:
        return QdrantTaskShelf(self)

    def _videos_version(self) -> str | None:
        # Every replica renews it after each video write, and a search reads it before the videos, so
        # a replica's cached search never outlives a change another replica made (see `searchable`).
        kept = self._get("server", VIDEOS_VERSION)
        return kept["value"] if kept else None

    def _videos_changed(self) -> None:
        self._put("server", VIDEOS_VERSION, {"value": uuid.uuid4().hex})

    # ---- indexes ---------------------------------------------------------------------------
    def add_index(self, name: str, models: list[dict[str, Any]], addons: list[str]) -> IndexRow:
        stamp = now_text()
        row = IndexRow(new_id(), name, models, addons, stamp, stamp)
        self._put("indexes", row.id, {**dataclasses.asdict(row), "deleted": False})
        return row

    def index(self, index_id: str) -> IndexRow | None:
        found = self._get("indexes", index_id)
        return _row(IndexRow, found) if found and not found["deleted"] else None

    def index_named(self, name: str) -> IndexRow | None:
        found = self._scroll("indexes", qm.Filter(must=[_eq("name", name), _eq("deleted", False)]))
        return _by_creation([_row(IndexRow, p) for p in found])[0] if found else None

    def indexes(self) -> list[IndexRow]:
        return _by_creation([_row(IndexRow, p) for p in self._scroll("indexes", qm.Filter(must=[
            _eq("deleted", False)]))])

    def rename_index(self, index_id: str, name: str) -> None:
        self._set("indexes", index_id, {"name": name, "updated_at": now_text()})

    def delete_index(self, index_id: str) -> None:
        stamp = now_text()
        self._set("indexes", index_id, {"deleted": True, "updated_at": stamp})
        self._set_where("videos", qm.Filter(must=[_eq("index_id", index_id)]), {"deleted": True, "updated_at": stamp})
        self._videos_changed()

    # ---- videos (tasks) --------------------------------------------------------------------
    def add_video(self, row: VideoRow) -> VideoRow:
        row.created_at = row.updated_at = now_text()
        self._put("videos", row.id, {**dataclasses.asdict(row), "deleted": False})
        self._videos_changed()
        return row

    def update_video(self, video_id: str, **fields: Any) -> None:
        fields["updated_at"] = now_text()
        if "deleted" in fields:
            fields["deleted"] = bool(fields["deleted"])
        self._set("videos", video_id, fields)
        self._videos_changed()

    def video(self, video_id: str) -> VideoRow | None:
        found = self._get("videos", video_id)
        return _row(VideoRow, found) if found and not found["deleted"] else None

    def task(self, task_id: str) -> VideoRow | None:
        found = self._scroll("videos", qm.Filter(must=[_eq("task_id", task_id), _eq("deleted", False)]))
        return _row(VideoRow, found[0]) if found else None

    def videos(self, index_id: str | None = None, status: str | None = None) -> list[VideoRow]:
        must = [_eq("deleted", False)]
        if index_id is not None:
            must.append(_eq("index_id", index_id))
        if status is not None:
            must.append(_eq("status", status))
        return _by_creation([_row(VideoRow, p) for p in self._scroll("videos", qm.Filter(must=must))])

    def unfinished(self) -> list[VideoRow]:
        return _by_creation([_row(VideoRow, p) for p in self._scroll("videos", qm.Filter(must=[
            _eq("deleted", False), _any("status", UNFINISHED)]))])

    def ready_with_content(self, index_id: str, sha256: str) -> VideoRow | None:
        found = [_row(VideoRow, p) for p in self._scroll("videos", qm.Filter(must=[
            _eq("index_id", index_id), _eq("sha256", sha256), _eq("status", READY), _eq("deleted", False)]))]
        usable = [r for r in found if r.asset_id is not None]
        return _by_creation(usable)[0] if usable else None

    def asset_ids_ever(self, index_id: str) -> set[str]:
        found = self._scroll("videos", qm.Filter(must=[_eq("index_id", index_id)]), fields=["asset_id"])
        return {p["asset_id"] for p in found if p.get("asset_id") is not None}

    def live_users_of(self, index_id: str, asset_id: str) -> int:
        return self._count("videos", qm.Filter(must=[_eq("index_id", index_id), _eq("asset_id", asset_id),
                                                         _eq("deleted", False)]))

    # ---- assets ----------------------------------------------------------------------------
    def add_asset(self, row: AssetRow) -> AssetRow:
        row.created_at = now_text()
        self._put("assets", row.id, {**dataclasses.asdict(row), "deleted": False})
        return row

    def asset(self, asset_id: str) -> AssetRow | None:
        found = self._get("assets", asset_id)
        return _row(AssetRow, found) if found and not found["deleted"] else None

    def assets(self) -> list[AssetRow]:
        rows = sorted((_row(AssetRow, p) for p in self._scroll("assets", qm.Filter(must=[_eq("deleted", False)]))),
                      key=lambda r: r.id)
        return sorted(rows, key=lambda r: r.created_at, reverse=True)  # stable: ties stay in id order

    def set_asset_metadata(self, asset_id: str, metadata: dict[str, Any]) -> None:
        self._set("assets", asset_id, {"user_metadata": metadata})  # a top-level key: replaced whole

    def delete_asset(self, asset_id: str) -> None:
        self._set("assets", asset_id, {"deleted": True})

    def finish_asset(self, asset_id: str, status: str, *, path: str | None = None, sha256: str = "", size: int = 0,
                     error: str | None = None) -> None:
        fields: dict[str, Any] = {"status": status, "sha256": sha256, "size": size, "error": error}
        if path is not None:
            fields["path"] = path
        self._set("assets", asset_id, fields, only_if=[_eq("status", PROCESSING)])

    # ---- multipart upload sessions ---------------------------------------------------------
    def add_upload(self, row: UploadRow) -> UploadRow:
        row.created_at = row.updated_at = now_text()
        self._put("uploads", row.id, dataclasses.asdict(row))
        return row

    def upload(self, upload_id: str) -> UploadRow | None:
        found = self._get("uploads", upload_id)
        return _row(UploadRow, found) if found else None

    def uploads(self, status: str) -> list[UploadRow]:
        return _by_creation([_row(UploadRow, p) for p in self._scroll("uploads", qm.Filter(must=[
            _eq("status", status)]))])

    def move_upload(self, upload_id: str, from_status: str, to_status: str) -> bool:
        return self._claim("uploads", upload_id, {"status": to_status, "updated_at": now_text()},
                           only_if=[_eq("status", from_status)])

    def touch_upload(self, upload_id: str) -> None:
        self._set("uploads", upload_id, {"updated_at": now_text()})

    def chunks(self, upload_id: str) -> dict[int, ChunkRow]:
        rows = [_row(ChunkRow, p) for p in self._scroll("chunks", qm.Filter(must=[_eq("upload_id", upload_id)]))]
        return {r.index: r for r in sorted(rows, key=lambda r: r.index)}

    def chunk(self, upload_id: str, chunk_index: int) -> ChunkRow | None:
        found = self._get("chunks", f"{upload_id}/{chunk_index}")
        return _row(ChunkRow, found) if found else None

    def chunk_received(self, upload_id: str, chunk_index: int, size: int, etag: str) -> None:
        stamp = now_text()
        row = ChunkRow(index=chunk_index, status=RECEIVED, size=size, etag=etag, error=None, received_at=stamp,
                       reported_at=None, updated_at=stamp)
        # Inserted, or replacing a copy not yet reported: the filter is checked as the write is applied.
        self._put("chunks", f"{upload_id}/{chunk_index}", {**dataclasses.asdict(row), "upload_id": upload_id},
                  update_filter=qm.Filter(must_not=[_eq("status", COMPLETED)]))
        self.touch_upload(upload_id)

    def chunk_failed(self, upload_id: str, chunk_index: int, error: str) -> None:
        row = ChunkRow(index=chunk_index, status=FAILED, size=None, etag=None, error=error, received_at=None,
                       reported_at=None, updated_at=now_text())
        # Inserted, or replacing only an earlier failure: a good copy received earlier is kept.
        self._put("chunks", f"{upload_id}/{chunk_index}", {**dataclasses.asdict(row), "upload_id": upload_id},
                  update_filter=qm.Filter(must=[_eq("status", FAILED)]))

    def chunk_reported(self, upload_id: str, chunk_index: int, etag: str) -> bool:
        stamp = now_text()
        changed = self._claim("chunks", f"{upload_id}/{chunk_index}",
                              {"status": COMPLETED, "reported_at": stamp, "updated_at": stamp},
                              only_if=[_eq("status", RECEIVED), _eq("etag", etag)])
        if changed:
            self.touch_upload(upload_id)
        return changed

    def completed_chunks(self, upload_id: str) -> int:
        return self._count("chunks", qm.Filter(must=[_eq("upload_id", upload_id), _eq("status", COMPLETED)]))

    # ---- search pages ----------------------------------------------------------------------
    def add_search_page(self, query: dict[str, Any], page: int) -> str:
        token = uuid.uuid4().hex
        self._put("search_pages", token, {"query": query, "page": page, "created_at": now_text()})
        return token

    def search_page(self, token: str) -> tuple[dict[str, Any], int] | None:
        found = self._get("search_pages", token)
        return (found["query"], found["page"]) if found else None

    # ---- analyze tasks (QdrantTaskShelf) -------------------------------------------------------
    def _analyze_tasks(self) -> list[dict[str, Any]]:
        return self._scroll("analyze_tasks")

    def _analyze_task(self, task_id: str) -> dict[str, Any] | None:
        return self._get("analyze_tasks", task_id)

    def _keep_analyze_task(self, task: dict[str, Any]) -> None:
        self._put("analyze_tasks", task["task_id"], task)


class QdrantTaskShelf:
    """The analyze routes' background tasks (analyze_tasks.TaskShelf) in the shared records: a task
    one replica runs, every replica answers for."""

    shared = True

    def __init__(self, records: QdrantRecords):
        self._records = records

    def all(self) -> list[dict[str, Any]]:
        return self._records._analyze_tasks()

    def get(self, task_id: str) -> dict[str, Any] | None:
        return self._records._analyze_task(task_id)

    def keep(self, task: dict[str, Any]) -> None:
        self._records._keep_analyze_task(task)


def _local_lock(client: QdrantClient) -> threading.RLock | None:
    """One lock per local-mode client (shared by every QdrantRecords on it); None for a server."""
    from qdrant_client.local.qdrant_local import QdrantLocal

    if not isinstance(getattr(client, "_client", None), QdrantLocal):
        return None
    with _local_locks_guard:
        return _local_locks.setdefault(client, threading.RLock())
