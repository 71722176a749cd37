"""The advert a process serving a local Qdrant folder leaves in it (transforms/store/gateway.py),
so that other processes connect to its URL instead of opening the folder (scene_store.py).
The advert goes when the owner stops; a stale one (its process died) is ignored and removed."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

ADVERT_NAME = "sceneline-gateway.json"


def _advert_path(folder: str) -> Path:
    return Path(folder) / ADVERT_NAME


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def advertised_url(folder: str) -> str | None:
    """The URL of a live gateway serving `folder` from another process, if there is one."""
    path = _advert_path(folder)
    try:
        advert = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = int(advert.get("pid", -1))
    if pid == os.getpid():
        return None  # this process owns the folder: use its local client directly
    if not _pid_alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()  # its owner died without cleaning up
        return None
    return advert.get("url")
