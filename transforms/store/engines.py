"""The one place a store engine is opened, and shared within a process.

    --qdrant-url URL     qdrant-client against a Qdrant server
    --qdrant-path DIR    Qdrant's engine in-process (edge), in DIR; or, when another process
                         owns DIR and serves it, that process through the store protocol
    :memory:             the same embedded engine in a temporary folder, gone when closed

A folder admits one process; within it, every SceneStore on the folder shares one engine.
"""

from __future__ import annotations

import threading

from sceneline.transforms.store.advert import advertised_url
from sceneline.transforms.store.backend import StoreBackend
from sceneline.transforms.store.config import StoreConfig, StoreConfigError
from sceneline.transforms.store.legacy import refuse_legacy_folder

_engines: dict[tuple, StoreBackend] = {}
_engines_lock = threading.Lock()


def open_backend(config: StoreConfig) -> StoreBackend:
    """A new engine for the config (callers share engines through shared_backend)."""
    if config.url:
        from qdrant_client import QdrantClient

        from sceneline.transforms.store.client_backend import QdrantClientBackend

        return QdrantClientBackend(QdrantClient(url=config.url, api_key=config.api_key, timeout=60),
                                   describe=config.url)
    from sceneline.transforms.store.edge_backend import EdgeBackend, FolderLockedError

    if config.in_memory:
        return EdgeBackend.in_memory()
    refuse_legacy_folder(config.path)
    url = advertised_url(config.path)
    if url:
        from sceneline.transforms.store.proxy import ProxyBackend

        return ProxyBackend(url, folder=config.path)
    try:
        return EdgeBackend(config.path)
    except FolderLockedError:
        raise StoreConfigError(
            f"the index folder {config.path} is in use by another process that does not share it; wait for it "
            f"to finish, or keep `sceneline serve --qdrant-path {config.path}` running so that every process "
            "goes through it") from None


def shared_backend(config: StoreConfig) -> StoreBackend:
    key = config.engine_key()
    with _engines_lock:
        if key not in _engines:
            _engines[key] = open_backend(config)
        return _engines[key]


def close_shared_clients() -> None:
    """Close every engine this process opened (frees local folders for other processes)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
