"""The index as the CLI sees it: its home folder, what a run writes beside it, and whether
there is one to read.

A local index lives in `--qdrant-path` (default `.sceneline/qdrant`); the folder that holds it is
its home, and a run's thumbnails, run records and dead letters go there too, as absolute paths, so
that the paths stored in the index resolve from any working folder. While a run holds a local
folder it serves it to other processes (pipelines/store_access.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sceneline.schemas.failures import UserError
from sceneline.schemas.settings import HOME, OutputSettings, StoreSettings
from sceneline.transforms.store.config import ENGINE_MARKER

# Where each output goes inside the home, by its setting's name.
OUTPUT_FOLDERS = {"thumbnails": "thumbnails", "dead_letter": "dead_letters", "run_dir": "runs"}


class NoIndexError(UserError, FileNotFoundError):
    """A read-only command pointed at a folder that holds no index."""


def is_local(store: StoreSettings) -> bool:
    return not store.qdrant_url and store.qdrant_path != ":memory:"


def local_folder(store: StoreSettings) -> Path:
    return Path(store.qdrant_path or f"{HOME}/qdrant").expanduser().absolute()


def index_home(store: StoreSettings) -> Path:
    """The folder a run's outputs belong in: the local index's parent, else ./.sceneline."""
    return local_folder(store).parent if is_local(store) else Path(HOME).absolute()


def outputs_beside_index(given: dict[str, Any], store: StoreSettings) -> dict[str, Any]:
    """`given` with each output left at its default moved into the index's home (absolute)."""
    placed = dict(given)
    home = index_home(store)
    for name, folder in OUTPUT_FOLDERS.items():
        value = given.get(name)
        if value is None or value == OutputSettings.default(name):
            placed[name] = str(home / folder)
    return placed


def require_index(store: StoreSettings) -> None:
    """Read-only commands never create an index: say so instead (and write nothing)."""
    folder = local_folder(store)
    # The embedded engine's folder (its marker), or one of the old local mode (`collection/`), which
    # opening then refuses with the migration command.
    if is_local(store) and not (folder / ENGINE_MARKER).exists() and not (folder / "collection").is_dir():
        from sceneline.transforms.store.advert import advertised_url

        if not advertised_url(str(local_folder(store))):
            raise NoIndexError(f"no index at {local_folder(store)}; run `sceneline index PATH...` there first, "
                               "or point at one with --qdrant-path DIR")


def owner_of(store: StoreSettings) -> str | None:
    """The URL of another process that owns this local index and serves it, if one does."""
    if not is_local(store):
        return None
    from sceneline.transforms.store.advert import advertised_url

    return advertised_url(str(local_folder(store)))
