"""Which home the server's records (records.py) get: in the Qdrant server when the index store is
one (`--qdrant-url`: replicas share the store, so they share the records too, and keep nothing on
their disks), else the sqlite file in the server's home (one server on one machine)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.settings import ServerSettings

if TYPE_CHECKING:
    from sceneline.pipelines.server.records_qdrant import QdrantRecords

log = logging.getLogger(__name__)

QDRANT_TIMEOUT_S = 60
SQLITE_RECORDS_FILE = "server.sqlite3"  # records_sqlite.RECORDS_FILE, named here without loading sqlite's module
MOVED_SUFFIX = ".moved-to-qdrant"


def open_records(settings: ServerSettings) -> Records:
    if settings.store.url:
        from qdrant_client import QdrantClient

        from sceneline.pipelines.server.records_qdrant import QdrantRecords

        client = QdrantClient(url=settings.store.url, api_key=settings.store.api_key, timeout=QDRANT_TIMEOUT_S)
        records = QdrantRecords(client, settings.store.collection)
        move_in_sqlite_records(settings.home, records)
        return records
    from sceneline.pipelines.server.records_sqlite import SqliteRecords

    return SqliteRecords(settings.home)


def move_in_sqlite_records(home: Path, records: "QdrantRecords") -> int:
    """An older server kept its records in sqlite beside its uploads, even with a Qdrant server for
    the scenes. Its first start with them in Qdrant brings them over (indexes, videos and their
    tasks, assets, uploads, search pages), so an upgrade loses none; the file is then renamed, never
    read again. Records already in Qdrant (another replica started first) are left as they are."""
    from sceneline.pipelines.server.records_sqlite import SqliteRecords

    old_file = home / SQLITE_RECORDS_FILE
    if not old_file.exists():
        return 0
    if not records.is_empty():
        log.warning("%s is not moved into the Qdrant records: they already hold records", old_file)
        return 0
    old = SqliteRecords(home)
    try:
        moved = 0
        for kind, key, fields in old.export():
            records.import_record(kind, key, fields)
            moved += 1
    finally:
        old.close()
    old_file.rename(old_file.with_name(old_file.name + MOVED_SUFFIX))
    log.warning("moved %d records from %s into the Qdrant records (the file is now %s%s)", moved, old_file,
                old_file.name, MOVED_SUFFIX)
    return moved
