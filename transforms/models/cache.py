"""One model per process, whatever the stage (image and text embeddings, OCR, captions, search).

RunInference keeps its model in a weakly referenced cache that holds one object alive at a
time, and the local streaming runner sets a DoFn up for every bundle (each setup acquires
another cached object first), so without a strong reference every bundle would load its model
again. Handlers' `load_model` go through `process_model`; preflight and search share the same
loaded model.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, TypeVar

M = TypeVar("M")

_models: dict[tuple, Any] = {}
_key_locks: dict[tuple, threading.Lock] = {}
_lock = threading.Lock()


def process_model(load: Callable[..., M], *args: Hashable) -> M:
    """`load(*args)`, once per process for the same loader and arguments. Concurrent callers of
    one key wait for a single load; a load that fails is tried again by the next caller."""
    key = (load.__module__, load.__qualname__, *args)
    with _lock:
        if key in _models:
            return _models[key]
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        if key not in _models:
            _models[key] = load(*args)
        return _models[key]


def forget_models() -> None:
    """Drop every model this process holds (tests that load many; memory between runs)."""
    with _lock:
        _models.clear()
        _key_locks.clear()


def load_in_background(load: Callable[..., Any], *args: Hashable) -> threading.Thread:
    """Start `process_model(load, *args)` on a daemon thread, so the load overlaps what the
    caller does next (opening the store, building and starting a pipeline whose workers run in
    this process); their own `process_model` call then waits for it or finds it done. A failed
    load is not reported here: the workers' call tries again and fails the way it always does."""

    def load_quietly() -> None:
        try:
            process_model(load, *args)
        except Exception:  # raised again, where it is handled, by the workers' own call
            pass

    thread = threading.Thread(target=load_quietly, name="sceneline-model-load", daemon=True)
    thread.start()
    return thread
