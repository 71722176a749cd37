"""Which process owns a local index folder, and where it serves the store to the others.

A folder's engine admits one process. The owner (`sceneline serve`, the API server, a stream, a
multi-process batch run) serves the store over HTTP and writes an advert (`sceneline-owner.json`:
url and pid) into the folder; other processes read it and go through the owner. The advert goes
when the owner stops; a stale one (its process died) is ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

from sceneline.schemas.failures import UserError

ADVERT_NAME = "sceneline-owner.json"


class AdvertError(UserError, RuntimeError):
    """The folder is already served by another process."""


def advert_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / ADVERT_NAME


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def advertised_url(folder: str | os.PathLike) -> str | None:
    """The URL of a live owner serving `folder` from another process, if there is one."""
    path = advert_path(folder)
    try:
        advert = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = int(advert.get("pid", -1))
    if pid == os.getpid():
        return None  # this process owns the folder: use its engine directly
    if not pid_alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()  # its owner died without cleaning up
        return None
    return advert.get("url")


@contextlib.contextmanager
def advertise(folder: str | os.PathLike, url: str) -> Iterator[str]:
    """Tell other processes that this one serves `folder` at `url`, for the block."""
    other = advertised_url(folder)
    if other:
        raise AdvertError(f"{folder} is already served by another process at {other}")
    path = advert_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started_at": time.time()}))
    os.replace(tmp, path)
    try:
        yield url
    finally:
        withdraw(folder)


def withdraw(folder: str | os.PathLike) -> None:
    """Remove this process's advert from `folder` (another process's is left alone)."""
    path = advert_path(folder)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
