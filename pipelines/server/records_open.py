"""Which home the server's records (records.py) get: in the Qdrant server when the index store is
one (`--qdrant-url`: replicas share the store, so they share the records too, and keep nothing on
their disks), else the sqlite file in the server's home (one server on one machine)."""

from __future__ import annotations

import logging

from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.settings import ServerSettings

log = logging.getLogger(__name__)

QDRANT_TIMEOUT_S = 60
SQLITE_RECORDS_FILE = "server.sqlite3"  # records_sqlite.RECORDS_FILE, named here without loading sqlite's module


def open_records(settings: ServerSettings) -> Records:
    if settings.store.url:
        from qdrant_client import QdrantClient

        from sceneline.pipelines.server.records_qdrant import QdrantRecords

        if (settings.home / SQLITE_RECORDS_FILE).exists():
            log.warning("the records are in the Qdrant server at %s; those in %s are not read (they are not "
                        "moved over)", settings.store.url, settings.home / SQLITE_RECORDS_FILE)
        client = QdrantClient(url=settings.store.url, api_key=settings.store.api_key, timeout=QDRANT_TIMEOUT_S)
        return QdrantRecords(client, settings.store.collection)
    from sceneline.pipelines.server.records_sqlite import SqliteRecords

    return SqliteRecords(settings.home)
