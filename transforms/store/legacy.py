"""Index folders of the old embedded default (qdrant-client's local mode): detect, migrate.

That mode wrote `meta.json`, `.lock` and `collection/NAME/storage.sqlite` into the folder. The
embedded engine cannot read them, so opening such a folder is refused with the command that
copies it over (`sceneline migrate-index`); migration keeps the old files aside, under
`local-mode-backup/`, for the user to delete.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sceneline.transforms.store.config import StoreConfigError

log = logging.getLogger(__name__)

LEGACY_FILES = ("collection", "meta.json", ".lock")
BACKUP_DIR = "local-mode-backup"
STAGING_DIR = ".migrating"
COPY_PAGE = 256


class LegacyIndexError(StoreConfigError):
    """The folder holds an index of the old local mode."""


def is_legacy_folder(folder: str | os.PathLike) -> bool:
    path = Path(folder)
    return (path / "meta.json").is_file() and (path / "collection").is_dir()


def refuse_legacy_folder(folder: str | os.PathLike) -> None:
    if is_legacy_folder(folder):
        raise LegacyIndexError(
            f"{folder} holds an index written by an older sceneline (qdrant-client's local mode), which "
            f"the embedded engine cannot read; run `sceneline migrate-index --qdrant-path {folder}` once")


@dataclass
class Migration:
    folder: str
    points: dict[str, int] = field(default_factory=dict)  # collection -> points copied
    backup: str = ""


def _layout_indexes(name: str, metadata: dict) -> dict[str, str]:
    """Local mode kept no payload indexes: give sceneline's collections the ones they need. Its
    scene points carry their assets' fields (layout 1, schemas/qdrant_layout.py): index them all."""
    from sceneline.schemas.qdrant_layout import ASSET_PAYLOAD_INDEXES, PAYLOAD_INDEXES, SPEECH_PAYLOAD_INDEXES

    if name.endswith("_assets"):
        return dict(ASSET_PAYLOAD_INDEXES)
    if name.endswith("_speech"):
        return dict(SPEECH_PAYLOAD_INDEXES)
    return dict(PAYLOAD_INDEXES) if "models" in metadata else {}


def migrate_folder(folder: str) -> Migration:
    """Copy every collection of an old local-mode folder into the embedded engine, in place."""
    from qdrant_client import QdrantClient

    from sceneline.transforms.store.advert import advertised_url
    from sceneline.transforms.store.backend import CollectionSpec
    from sceneline.transforms.store.client_backend import QdrantClientBackend
    from sceneline.transforms.store.edge_backend import COLLECTIONS_DIR, ENGINE_MARKER, LOCK_NAME, EdgeBackend

    root = Path(folder)
    if not is_legacy_folder(root):
        raise StoreConfigError(f"{folder} holds no index of the old local mode; nothing to migrate")
    if advertised_url(root):
        raise StoreConfigError(f"{folder} is served by a running process; stop it before migrating")
    staging = root / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)  # a migration cut short
    done = Migration(folder=str(root))
    try:
        old = QdrantClientBackend(QdrantClient(path=str(root)), describe=f"old local index at {folder}")
    except RuntimeError as exc:  # portalocker: another process has it open
        raise StoreConfigError(f"cannot open {folder}: {exc}") from exc
    try:
        new = EdgeBackend(str(staging))
        try:
            for name in [c.name for c in old._client.get_collections().collections]:
                spec = old.collection_spec(name)
                spec = CollectionSpec(vectors=spec.vectors, metadata=spec.metadata,
                                      payload_indexes=spec.payload_indexes or _layout_indexes(name, spec.metadata))
                new.create_collection(name, spec)
                offset, copied = None, 0
                while True:
                    page, offset = old.scroll(name, limit=COPY_PAGE, offset=offset, with_vectors=True)
                    new.upsert(name, page)
                    copied += len(page)
                    if offset is None:
                        break
                done.points[name] = copied
                log.info("migrated %s: %d points", name, copied)
        finally:
            new.close()  # builds the HNSW graphs
    finally:
        old.close()
    backup = root / BACKUP_DIR
    backup.mkdir(exist_ok=True)
    for name in LEGACY_FILES:
        if (root / name).exists():
            os.replace(root / name, backup / name)
    for name in (COLLECTIONS_DIR, ENGINE_MARKER):
        os.replace(staging / name, root / name)
    (staging / LOCK_NAME).unlink(missing_ok=True)
    staging.rmdir()
    done.backup = str(backup)
    return done
