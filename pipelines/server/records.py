"""The server's own records: indexes, tasks and their videos, assets, multipart upload sessions and
their chunks, search pages, and the server's shared secret. One interface (`Records`), two homes:

    records_sqlite.SqliteRecords   a sqlite file in the server's home: one server on one machine
                                   (the default)
    records_qdrant.QdrantRecords   payload-only points in the Qdrant server that holds the scenes:
                                   any number of replicas, nothing on their disks (`--qdrant-url`)

`open_records` (records_open.py) picks one. Both keep each change before the request that made it is
answered, so a restart (even after `kill -9`) loses nothing. The scenes themselves stay in the index
store; a video row maps the API's video id onto the content-derived asset id its scenes carry, so
identical uploads share one analysis.

Lists come back in the order the API pages them by (created_at, then id; assets newest first), the
same from both homes: the SDK's pagers rely on it.
"""

from __future__ import annotations

import threading
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Hashable

# Task statuses, in TwelveLabs' words; a task ends `ready` or `failed`.
VALIDATING, PENDING, INDEXING, READY, FAILED = "validating", "pending", "indexing", "ready", "failed"
UNFINISHED = (VALIDATING, PENDING, INDEXING)
# An asset is `processing` until its bytes are whole and checked (a multipart upload), then `ready` or `failed`.
PROCESSING = "processing"
# Multipart upload sessions and their chunks, in TwelveLabs' words. A chunk is `received` (its bytes
# are on disk) before the client reports it `completed`; TwelveLabs calls both `pending` until then.
ACTIVE, COMPLETED, EXPIRED = "active", "completed", "expired"
RECEIVED = "received"
SIGNING_SECRET_BYTES = 32


def now_text() -> str:
    """RFC 3339 in UTC, as TwelveLabs writes times."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """24 hex digits: the shape of TwelveLabs' ids."""
    return uuid.uuid4().hex[:24]


@dataclass
class IndexRow:
    id: str
    name: str
    models: list[dict[str, Any]]
    addons: list[str]
    created_at: str
    updated_at: str

    def model_options(self) -> set[str]:
        return {opt for m in self.models for opt in m.get("model_options", [])}


@dataclass
class VideoRow:
    """One upload: its task and the video it becomes (TwelveLabs' task and video ids)."""

    id: str
    task_id: str
    index_id: str
    status: str
    filename: str
    path: str
    sha256: str | None = None
    asset_id: str | None = None
    size: int | None = None
    system_metadata: dict[str, Any] = field(default_factory=dict)
    user_metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    indexed_at: str | None = None


@dataclass
class AssetRow:
    """An uploaded file (TwelveLabs' asset), not yet in any index."""

    id: str
    method: str
    status: str
    filename: str
    path: str
    sha256: str
    size: int
    user_metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    error: str | None = None  # why a `failed` asset failed


@dataclass
class UploadRow:
    """A multipart upload session: the file it builds (an asset reserved at creation) and its chunking."""

    id: str
    asset_id: str
    filename: str
    type: str
    total_size: int
    chunk_size: int
    total_chunks: int
    status: str = ACTIVE
    created_at: str = ""
    updated_at: str = ""
    expires_at: str = ""

    def expected_size(self, chunk_index: int) -> int:
        """Bytes of chunk `chunk_index` (1-based): `chunk_size`, the last one what is left."""
        return min(self.chunk_size, self.total_size - (chunk_index - 1) * self.chunk_size)


@dataclass
class ChunkRow:
    """One chunk of an upload that the server has heard of (received, reported, or failed)."""

    index: int
    status: str
    size: int | None
    etag: str | None
    error: str | None
    received_at: str | None
    reported_at: str | None
    updated_at: str


class Records(ABC):
    """What the routers, the indexer and the multipart uploads read and write. Thread-safe.

    Compare-and-set methods (`move_upload`, `chunk_received`, `chunk_reported`) keep their promise
    across every process sharing the records, not only across threads."""

    def __init__(self) -> None:
        # What a search reads of the videos (an index's ready videos) is kept while the videos'
        # version (`_videos_version`) stays the same, so a search over 10,000 videos does not read
        # and parse them all again (a search's own page token does not change the version).
        self._cache_lock = threading.Lock()
        self._ready_cache: dict[str, tuple[Hashable, list[VideoRow], set[str]]] = {}

    @abstractmethod
    def close(self) -> None: ...

    # ---- the server --------------------------------------------------------------------------
    @abstractmethod
    def signing_secret(self) -> bytes:
        """The secret presigned URLs are signed with: the same for every server sharing these records
        (a URL one replica signs, another accepts)."""

    @abstractmethod
    def task_shelf(self) -> Any:
        """Where the analyze routes keep their background tasks (analyze_routes.TaskShelf)."""

    # ---- indexes ---------------------------------------------------------------------------
    @abstractmethod
    def add_index(self, name: str, models: list[dict[str, Any]], addons: list[str]) -> IndexRow: ...

    @abstractmethod
    def index(self, index_id: str) -> IndexRow | None: ...

    @abstractmethod
    def index_named(self, name: str) -> IndexRow | None: ...

    @abstractmethod
    def indexes(self) -> list[IndexRow]: ...

    @abstractmethod
    def rename_index(self, index_id: str, name: str) -> None: ...

    @abstractmethod
    def delete_index(self, index_id: str) -> None:
        """The index and its videos (which search stops seeing at once)."""

    # ---- videos (tasks) --------------------------------------------------------------------
    @abstractmethod
    def add_video(self, row: VideoRow) -> VideoRow: ...

    @abstractmethod
    def update_video(self, video_id: str, **fields: Any) -> None: ...

    @abstractmethod
    def video(self, video_id: str) -> VideoRow | None: ...

    @abstractmethod
    def task(self, task_id: str) -> VideoRow | None: ...

    @abstractmethod
    def videos(self, index_id: str | None = None, status: str | None = None) -> list[VideoRow]: ...

    @abstractmethod
    def unfinished(self) -> list[VideoRow]: ...

    @abstractmethod
    def ready_with_content(self, index_id: str, sha256: str) -> VideoRow | None:
        """An indexed upload of the same bytes in this index: its analysis can be reused."""

    @abstractmethod
    def asset_ids_ever(self, index_id: str) -> set[str]:
        """Every asset an index's videos were indexed as, deleted videos' too: all that its
        collection can hold points of."""

    @abstractmethod
    def live_users_of(self, index_id: str, asset_id: str) -> int:
        """Videos in an index still using an asset's scenes."""

    def delete_video(self, video_id: str) -> None:
        self.update_video(video_id, deleted=1)

    @abstractmethod
    def _videos_version(self) -> Hashable:
        """A value that changes whenever any video changes, in any process sharing the records."""

    def searchable(self, index_id: str) -> tuple[list[VideoRow], set[str]]:
        """What a search of an index reads: its ready videos, and every asset its videos were ever
        indexed as (`asset_ids_ever`). Kept until a video next changes."""
        version = self._videos_version()  # read before the videos: a change after it shows next time
        with self._cache_lock:
            cached = self._ready_cache.get(index_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        found = (self.videos(index_id, status=READY), self.asset_ids_ever(index_id))
        if self._videos_version() == version:  # nothing changed while they were read
            with self._cache_lock:
                self._ready_cache[index_id] = (version, *found)
        return found

    # ---- assets (uploaded once, indexed into any index) -------------------------------------
    @abstractmethod
    def add_asset(self, row: AssetRow) -> AssetRow: ...

    @abstractmethod
    def asset(self, asset_id: str) -> AssetRow | None: ...

    @abstractmethod
    def assets(self) -> list[AssetRow]:
        """Newest first (created_at descending, then id)."""

    @abstractmethod
    def set_asset_metadata(self, asset_id: str, metadata: dict[str, Any]) -> None: ...

    @abstractmethod
    def delete_asset(self, asset_id: str) -> None: ...

    @abstractmethod
    def finish_asset(self, asset_id: str, status: str, *, path: str | None = None, sha256: str = "", size: int = 0,
                     error: str | None = None) -> None:
        """A `processing` asset becomes `ready` (with its file) or `failed` (with the reason), once:
        of two replicas joining the same upload, the first to finish settles it."""

    # ---- multipart upload sessions ---------------------------------------------------------
    @abstractmethod
    def add_upload(self, row: UploadRow) -> UploadRow: ...

    @abstractmethod
    def upload(self, upload_id: str) -> UploadRow | None: ...

    @abstractmethod
    def uploads(self, status: str) -> list[UploadRow]: ...

    @abstractmethod
    def move_upload(self, upload_id: str, from_status: str, to_status: str) -> bool:
        """Change a session's status if it is still `from_status`: of two requests racing to complete
        an upload, exactly one wins (True)."""

    @abstractmethod
    def touch_upload(self, upload_id: str) -> None: ...

    @abstractmethod
    def chunks(self, upload_id: str) -> dict[int, ChunkRow]: ...

    @abstractmethod
    def chunk(self, upload_id: str, chunk_index: int) -> ChunkRow | None: ...

    @abstractmethod
    def chunk_received(self, upload_id: str, chunk_index: int, size: int, etag: str) -> None:
        """A chunk's bytes are kept (again: a re-sent chunk replaces the earlier copy unless reported;
        a reported chunk is never replaced)."""

    @abstractmethod
    def chunk_failed(self, upload_id: str, chunk_index: int, error: str) -> None:
        """A send of a chunk went wrong; a good copy received earlier is kept."""

    @abstractmethod
    def chunk_reported(self, upload_id: str, chunk_index: int, etag: str) -> bool:
        """Mark a received chunk with this etag `completed`; False if it already was (a duplicate
        report) or is not received with that etag."""

    @abstractmethod
    def completed_chunks(self, upload_id: str) -> int: ...

    # ---- search pages ----------------------------------------------------------------------
    @abstractmethod
    def add_search_page(self, query: dict[str, Any], page: int) -> str:
        """A page token for page `page` of a search."""

    @abstractmethod
    def search_page(self, token: str) -> tuple[dict[str, Any], int] | None: ...
