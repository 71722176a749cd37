"""The server's records (records.py) in a sqlite file in the server's home folder: one server on
one machine. sqlite commits each change before the request that made it is answered, and its
compare-and-set writes are single `UPDATE ... WHERE` statements."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

from sceneline.pipelines.analyze_routes import SqliteTaskShelf
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

RECORDS_FILE = "server.sqlite3"
ANALYZE_TASKS_FILE = "analyze-tasks.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indexes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, models TEXT NOT NULL, addons TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, task_id TEXT UNIQUE NOT NULL, index_id TEXT NOT NULL, status TEXT NOT NULL,
    filename TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT, asset_id TEXT, size INTEGER,
    system_metadata TEXT NOT NULL DEFAULT '{}', user_metadata TEXT NOT NULL DEFAULT '{}',
    error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, indexed_at TEXT,
    deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS videos_by_index ON videos (index_id, deleted, status);
CREATE INDEX IF NOT EXISTS videos_by_asset ON videos (asset_id);
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY, method TEXT NOT NULL, status TEXT NOT NULL, filename TEXT NOT NULL, path TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, user_metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS multipart_uploads (
    id TEXT PRIMARY KEY, asset_id TEXT NOT NULL, filename TEXT NOT NULL, type TEXT NOT NULL,
    total_size INTEGER NOT NULL, chunk_size INTEGER NOT NULL, total_chunks INTEGER NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS multipart_uploads_by_status ON multipart_uploads (status, created_at);
CREATE TABLE IF NOT EXISTS multipart_chunks (
    upload_id TEXT NOT NULL, chunk_index INTEGER NOT NULL, status TEXT NOT NULL, size INTEGER, etag TEXT,
    error TEXT, received_at TEXT, reported_at TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (upload_id, chunk_index));
CREATE TABLE IF NOT EXISTS search_pages (
    token TEXT PRIMARY KEY, query TEXT NOT NULL, page INTEGER NOT NULL, created_at TEXT NOT NULL);
"""


class SqliteRecords(Records):
    """Thread-safe access to the records file (one connection, one lock)."""

    def __init__(self, home: Path):
        super().__init__()
        home.mkdir(parents=True, exist_ok=True)
        self._home = home
        self._path = home / RECORDS_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._connection()
        # Writes to the videos table (`changes_videos`) are counted: the videos' version
        # (`searchable`). Only this process writes the file, so the count is the whole story.
        self._writes = 0
        self._signing_secret = secrets.token_bytes(SIGNING_SECRET_BYTES)

    def _connection(self) -> sqlite3.Connection:
        """The open connection, opened again after `close` (an app's lifespan may run more than once:
        a test client starts and stops it around each test). Call with the lock held or in __init__."""
        if self._db is None:
            self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an answered request survives a power cut
            self._db.executescript(_SCHEMA)
            _add_missing_columns(self._db)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple = (), *, changes_videos: bool = False) -> int:
        with self._lock:
            if changes_videos:
                self._writes += 1
            return self._connection().execute(sql, args).rowcount

    def _videos_version(self) -> int:
        with self._lock:
            return self._writes

    # ---- the server --------------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        """New with each process: the file has one server, and a restart withdraws every URL it
        handed out (a client asks for new ones)."""
        return self._signing_secret

    def task_shelf(self) -> SqliteTaskShelf:
        return SqliteTaskShelf(self._home / ANALYZE_TASKS_FILE)

    # ---- indexes ---------------------------------------------------------------------------
    def add_index(self, name: str, models: list[dict[str, Any]], addons: list[str]) -> IndexRow:
        stamp = now_text()
        row = IndexRow(new_id(), name, models, addons, stamp, stamp)
        self._run("INSERT INTO indexes (id, name, models, addons, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                  (row.id, name, json.dumps(models), json.dumps(addons), stamp, stamp))
        return row

    def index(self, index_id: str) -> IndexRow | None:
        found = self._rows("SELECT * FROM indexes WHERE id=? AND deleted=0", (index_id,))
        return _index_row(found[0]) if found else None

    def index_named(self, name: str) -> IndexRow | None:
        found = self._rows("SELECT * FROM indexes WHERE name=? AND deleted=0", (name,))
        return _index_row(found[0]) if found else None

    def indexes(self) -> list[IndexRow]:
        return [_index_row(r) for r in self._rows("SELECT * FROM indexes WHERE deleted=0 ORDER BY created_at, id")]

    def rename_index(self, index_id: str, name: str) -> None:
        self._run("UPDATE indexes SET name=?, updated_at=? WHERE id=?", (name, now_text(), index_id))

    def delete_index(self, index_id: str) -> None:
        self._run("UPDATE indexes SET deleted=1, updated_at=? WHERE id=?", (now_text(), index_id))
        self._run("UPDATE videos SET deleted=1, updated_at=? WHERE index_id=?", (now_text(), index_id),
                  changes_videos=True)

    # ---- videos (tasks) --------------------------------------------------------------------
    def add_video(self, row: VideoRow) -> VideoRow:
        row.created_at = row.updated_at = now_text()
        self._run("INSERT INTO videos (id, task_id, index_id, status, filename, path, sha256, asset_id, size, "
                  "user_metadata, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  (row.id, row.task_id, row.index_id, row.status, row.filename, row.path, row.sha256,
                   row.asset_id, row.size, json.dumps(row.user_metadata), row.created_at, row.updated_at),
                  changes_videos=True)
        return row

    def update_video(self, video_id: str, **fields: Any) -> None:
        fields["updated_at"] = now_text()
        for key in ("system_metadata", "user_metadata"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        names = ", ".join(f"{k}=?" for k in fields)
        self._run(f"UPDATE videos SET {names} WHERE id=?", (*fields.values(), video_id), changes_videos=True)

    def video(self, video_id: str) -> VideoRow | None:
        found = self._rows("SELECT * FROM videos WHERE id=? AND deleted=0", (video_id,))
        return _video_row(found[0]) if found else None

    def task(self, task_id: str) -> VideoRow | None:
        found = self._rows("SELECT * FROM videos WHERE task_id=? AND deleted=0", (task_id,))
        return _video_row(found[0]) if found else None

    def videos(self, index_id: str | None = None, status: str | None = None) -> list[VideoRow]:
        sql, args = "SELECT * FROM videos WHERE deleted=0", []
        if index_id is not None:
            sql, args = sql + " AND index_id=?", [*args, index_id]
        if status is not None:
            sql, args = sql + " AND status=?", [*args, status]
        return [_video_row(r) for r in self._rows(sql + " ORDER BY created_at, id", tuple(args))]

    def unfinished(self) -> list[VideoRow]:
        marks = ",".join("?" * len(UNFINISHED))
        return [_video_row(r) for r in self._rows(
            f"SELECT * FROM videos WHERE deleted=0 AND status IN ({marks}) ORDER BY created_at", UNFINISHED)]

    def ready_with_content(self, index_id: str, sha256: str) -> VideoRow | None:
        """An indexed upload of the same bytes in this index: its analysis can be reused."""
        found = self._rows("SELECT * FROM videos WHERE index_id=? AND sha256=? AND status=? AND deleted=0 "
                           "AND asset_id IS NOT NULL LIMIT 1", (index_id, sha256, READY))
        return _video_row(found[0]) if found else None

    def asset_ids_ever(self, index_id: str) -> set[str]:
        """Every asset an index's videos were indexed as, deleted videos' too: all that its
        collection can hold points of."""
        return {r[0] for r in self._rows("SELECT DISTINCT asset_id FROM videos WHERE index_id=? AND asset_id IS NOT NULL",
                                         (index_id,))}

    def live_users_of(self, index_id: str, asset_id: str) -> int:
        """Videos in an index still using an asset's scenes."""
        return self._rows("SELECT COUNT(*) FROM videos WHERE index_id=? AND asset_id=? AND deleted=0",
                          (index_id, asset_id))[0][0]

    # ---- assets (uploaded once, indexed into any index) -------------------------------------
    def add_asset(self, row: "AssetRow") -> "AssetRow":
        row.created_at = now_text()
        self._run("INSERT INTO assets (id, method, status, filename, path, sha256, size, user_metadata, created_at) "
                  "VALUES (?,?,?,?,?,?,?,?,?)", (row.id, row.method, row.status, row.filename, row.path, row.sha256,
                                                 row.size, json.dumps(row.user_metadata), row.created_at))
        return row

    def asset(self, asset_id: str) -> "AssetRow | None":
        found = self._rows("SELECT * FROM assets WHERE id=? AND deleted=0", (asset_id,))
        return _asset_row(found[0]) if found else None

    def assets(self) -> list["AssetRow"]:
        return [_asset_row(r) for r in self._rows("SELECT * FROM assets WHERE deleted=0 ORDER BY created_at DESC, id")]

    def set_asset_metadata(self, asset_id: str, metadata: dict[str, Any]) -> None:
        self._run("UPDATE assets SET user_metadata=? WHERE id=?", (json.dumps(metadata), asset_id))

    def delete_asset(self, asset_id: str) -> None:
        self._run("UPDATE assets SET deleted=1 WHERE id=?", (asset_id,))

    def finish_asset(self, asset_id: str, status: str, *, path: str | None = None, sha256: str = "", size: int = 0,
                     error: str | None = None) -> None:
        """A `processing` asset becomes `ready` (with its file) or `failed` (with the reason)."""
        self._run("UPDATE assets SET status=?, path=COALESCE(?, path), sha256=?, size=?, error=? "
                  "WHERE id=? AND status=?", (status, path, sha256, size, error, asset_id, PROCESSING))

    # ---- multipart upload sessions ---------------------------------------------------------
    def add_upload(self, row: UploadRow) -> UploadRow:
        row.created_at = row.updated_at = now_text()
        self._run("INSERT INTO multipart_uploads (id, asset_id, filename, type, total_size, chunk_size, total_chunks, "
                  "status, created_at, updated_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (row.id, row.asset_id, row.filename, row.type, row.total_size, row.chunk_size, row.total_chunks,
                   row.status, row.created_at, row.updated_at, row.expires_at))
        return row

    def upload(self, upload_id: str) -> UploadRow | None:
        found = self._rows("SELECT * FROM multipart_uploads WHERE id=?", (upload_id,))
        return _upload_row(found[0]) if found else None

    def uploads(self, status: str) -> list[UploadRow]:
        return [_upload_row(r) for r in self._rows(
            "SELECT * FROM multipart_uploads WHERE status=? ORDER BY created_at, id", (status,))]

    def move_upload(self, upload_id: str, from_status: str, to_status: str) -> bool:
        """Change a session's status if it is still `from_status`: of two requests racing to complete
        an upload, exactly one wins."""
        return self._run("UPDATE multipart_uploads SET status=?, updated_at=? WHERE id=? AND status=?",
                         (to_status, now_text(), upload_id, from_status)) == 1

    def touch_upload(self, upload_id: str) -> None:
        self._run("UPDATE multipart_uploads SET updated_at=? WHERE id=?", (now_text(), upload_id))

    def chunks(self, upload_id: str) -> dict[int, ChunkRow]:
        return {r["chunk_index"]: _chunk_row(r) for r in self._rows(
            "SELECT * FROM multipart_chunks WHERE upload_id=? ORDER BY chunk_index", (upload_id,))}

    def chunk(self, upload_id: str, chunk_index: int) -> ChunkRow | None:
        found = self._rows("SELECT * FROM multipart_chunks WHERE upload_id=? AND chunk_index=?",
                           (upload_id, chunk_index))
        return _chunk_row(found[0]) if found else None

    def chunk_received(self, upload_id: str, chunk_index: int, size: int, etag: str) -> None:
        """A chunk's bytes are on disk (again: a re-sent chunk replaces the earlier copy unless reported)."""
        stamp = now_text()
        self._run("INSERT INTO multipart_chunks (upload_id, chunk_index, status, size, etag, received_at, updated_at) "
                  "VALUES (?,?,?,?,?,?,?) ON CONFLICT (upload_id, chunk_index) DO UPDATE SET status=excluded.status, "
                  "size=excluded.size, etag=excluded.etag, error=NULL, received_at=excluded.received_at, "
                  "updated_at=excluded.updated_at WHERE multipart_chunks.status != ?",
                  (upload_id, chunk_index, RECEIVED, size, etag, stamp, stamp, COMPLETED))
        self.touch_upload(upload_id)

    def chunk_failed(self, upload_id: str, chunk_index: int, error: str) -> None:
        """A send of a chunk went wrong; a good copy received earlier is kept."""
        self._run("INSERT INTO multipart_chunks (upload_id, chunk_index, status, error, updated_at) VALUES (?,?,?,?,?) "
                  "ON CONFLICT (upload_id, chunk_index) DO UPDATE SET error=excluded.error, "
                  "updated_at=excluded.updated_at WHERE multipart_chunks.status = ?",
                  (upload_id, chunk_index, FAILED, error, now_text(), FAILED))

    def chunk_reported(self, upload_id: str, chunk_index: int, etag: str) -> bool:
        """Mark a received chunk `completed`; False if it already was (a duplicate report)."""
        stamp = now_text()
        changed = self._run("UPDATE multipart_chunks SET status=?, reported_at=?, updated_at=? "
                            "WHERE upload_id=? AND chunk_index=? AND status=? AND etag=?",
                            (COMPLETED, stamp, stamp, upload_id, chunk_index, RECEIVED, etag)) == 1
        if changed:
            self.touch_upload(upload_id)
        return changed

    def completed_chunks(self, upload_id: str) -> int:
        return self._rows("SELECT COUNT(*) FROM multipart_chunks WHERE upload_id=? AND status=?",
                          (upload_id, COMPLETED))[0][0]

    # ---- search pages ----------------------------------------------------------------------
    def add_search_page(self, query: dict[str, Any], page: int) -> str:
        token = uuid.uuid4().hex
        self._run("INSERT INTO search_pages (token, query, page, created_at) VALUES (?,?,?,?)",
                  (token, json.dumps(query), page, now_text()))
        return token

    def search_page(self, token: str) -> tuple[dict[str, Any], int] | None:
        found = self._rows("SELECT query, page FROM search_pages WHERE token=?", (token,))
        return (json.loads(found[0]["query"]), found[0]["page"]) if found else None


    # ---- moving to another home ------------------------------------------------------------
    def export(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every record, deleted ones too, as (kind, key, fields): what QdrantRecords.import_record
        takes (records_open.py moves an older server's records into a Qdrant server with it)."""
        for r in self._rows("SELECT * FROM indexes"):
            yield "indexes", r["id"], {**dataclasses.asdict(_index_row(r)), "deleted": bool(r["deleted"])}
        for r in self._rows("SELECT * FROM videos"):
            yield "videos", r["id"], {**dataclasses.asdict(_video_row(r)), "deleted": bool(r["deleted"])}
        for r in self._rows("SELECT * FROM assets"):
            yield "assets", r["id"], {**dataclasses.asdict(_asset_row(r)), "deleted": bool(r["deleted"])}
        for r in self._rows("SELECT * FROM multipart_uploads"):
            yield "uploads", r["id"], dataclasses.asdict(_upload_row(r))
        for r in self._rows("SELECT * FROM multipart_chunks"):
            yield ("chunks", f"{r['upload_id']}/{r['chunk_index']}",
                   {**dataclasses.asdict(_chunk_row(r)), "upload_id": r["upload_id"]})
        for r in self._rows("SELECT * FROM search_pages"):
            yield "search_pages", r["token"], {"query": json.loads(r["query"]), "page": r["page"],
                                               "created_at": r["created_at"]}

def _index_row(r: sqlite3.Row) -> IndexRow:
    return IndexRow(r["id"], r["name"], json.loads(r["models"]), json.loads(r["addons"]), r["created_at"],
                    r["updated_at"])


def _video_row(r: sqlite3.Row) -> VideoRow:
    return VideoRow(id=r["id"], task_id=r["task_id"], index_id=r["index_id"], status=r["status"],
                    filename=r["filename"], path=r["path"], sha256=r["sha256"], asset_id=r["asset_id"],
                    size=r["size"], system_metadata=json.loads(r["system_metadata"]),
                    user_metadata=json.loads(r["user_metadata"]), error=r["error"], created_at=r["created_at"],
                    updated_at=r["updated_at"], indexed_at=r["indexed_at"])


def _asset_row(r: sqlite3.Row) -> AssetRow:
    return AssetRow(id=r["id"], method=r["method"], status=r["status"], filename=r["filename"], path=r["path"],
                    sha256=r["sha256"], size=r["size"], user_metadata=json.loads(r["user_metadata"]),
                    created_at=r["created_at"], error=r["error"])


def _upload_row(r: sqlite3.Row) -> UploadRow:
    return UploadRow(id=r["id"], asset_id=r["asset_id"], filename=r["filename"], type=r["type"],
                     total_size=r["total_size"], chunk_size=r["chunk_size"], total_chunks=r["total_chunks"],
                     status=r["status"], created_at=r["created_at"], updated_at=r["updated_at"],
                     expires_at=r["expires_at"])


def _chunk_row(r: sqlite3.Row) -> ChunkRow:
    return ChunkRow(index=r["chunk_index"], status=r["status"], size=r["size"], etag=r["etag"], error=r["error"],
                    received_at=r["received_at"], reported_at=r["reported_at"], updated_at=r["updated_at"])


# Columns added after a table was first created: (table, column, declaration). A records file
# written by an older server gains them on open.
_LATER_COLUMNS = (("assets", "error", "TEXT"),)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, declaration in _LATER_COLUMNS:
        present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
