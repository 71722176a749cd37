"""Which home the server's records (records.py) get: in the Qdrant server when the index store is
one (`--qdrant-url`: replicas share the store, so they share the records too, and keep nothing on
their disks), else the sqlite file in the server's home (one server on one machine)."""

from __future__ import annotations

from sceneline.pipelines.server.records import Records
from sceneline.pipelines.server.settings import ServerSettings

QDRANT_TIMEOUT_S = 60


def open_records(settings: ServerSettings) -> Records:
    if settings.store.url:
        from qdrant_client import QdrantClient

        from sceneline.pipelines.server.records_qdrant import QdrantRecords

        client = QdrantClient(url=settings.store.url, api_key=settings.store.api_key, timeout=QDRANT_TIMEOUT_S)
        return QdrantRecords(client, settings.store.collection)
    from sceneline.pipelines.server.records_sqlite import SqliteRecords

    return SqliteRecords(settings.home)
