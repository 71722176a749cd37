"""Where the index lives: a local folder (the embedded engine), ":memory:", or a Qdrant server URL."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sceneline.schemas.qdrant_layout import CollectionNames

DEFAULT_COLLECTION = "scenes"
DEFAULT_LOCAL_PATH = ".sceneline/qdrant"
MEMORY = ":memory:"


class StoreConfigError(ValueError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    """Where the index lives. Exactly one of path (a folder or ":memory:") and url."""

    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = DEFAULT_COLLECTION

    def __post_init__(self) -> None:
        if bool(self.path) == bool(self.url):
            raise StoreConfigError("give exactly one of a Qdrant path (or ':memory:') and a Qdrant URL")

    @property
    def names(self) -> CollectionNames:
        return CollectionNames(self.collection)

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

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
