"""Where the index lives: a local folder (the embedded engine), ":memory:", or a Qdrant server URL."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from sceneline.schemas.bucket_root import BucketRoot
from sceneline.schemas.failures import UserError
from sceneline.schemas.settings import StoreSettings
from sceneline.schemas.qdrant_layout import CollectionNames, index_collection

DEFAULT_COLLECTION = StoreSettings.default("collection")
DEFAULT_LOCAL_PATH = ".sceneline/qdrant"
MEMORY = ":memory:"
# The file that marks a folder as the embedded engine's (transforms/store/edge_backend.py).
ENGINE_MARKER = "sceneline-engine.json"


class StoreConfigError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    """Where the index lives. Exactly one of path (a folder or ":memory:") and url.

    index_root: a `sceneline serve` media root (--api_media_root): an object under ROOT/INDEX/
    belongs to that API index, whose collection is `<collection>-<INDEX>` (for_object)."""

    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = DEFAULT_COLLECTION
    index_root: BucketRoot | None = None

    def __post_init__(self) -> None:
        if bool(self.path) == bool(self.url):
            raise StoreConfigError("give exactly one of a Qdrant path (or ':memory:') and a Qdrant URL")

    @property
    def names(self) -> CollectionNames:
        return CollectionNames(self.collection)

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def for_object(self, uri: str) -> "StoreConfig":
        """Where the records and scenes of the object at `uri` go: its API index's collection when
        it lies in an index folder of `index_root`, else this config's collection."""
        index_id = self.index_root.index_of(uri) if self.index_root is not None else None
        if index_id is None:
            return self
        return dataclasses.replace(self, collection=index_collection(self.collection, index_id), index_root=None)

    def describe(self) -> str:
        return self.url or ("in-memory store" if self.in_memory else f"local index at {self.path}")

    def engine_key(self) -> tuple:
        """One engine per key and process: a folder, memory, or a server with its key."""
        if self.url:
            return ("url", self.url, self.api_key)
        return ("memory",) if self.in_memory else ("path", os.path.abspath(self.path))


def store_config(path: str | None = None, url: str | None = None, api_key: str | None = None,
                 collection: str = DEFAULT_COLLECTION) -> StoreConfig:
    """A store config from user settings: a URL wins; with neither, the local default folder."""
    if url:
        return StoreConfig(url=url, api_key=api_key, collection=collection)
    return StoreConfig(path=path or DEFAULT_LOCAL_PATH, collection=collection)


class StoreUnreachableError(UserError, ConnectionError):
    """A Qdrant server URL that does not answer."""


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
