"""Indexing of uploads: a queue served by a few threads, each running one worker process.

Never more runs at once than `index_workers` (default: half the cores). On start, every task
a previous server left unfinished (it was killed) is queued again, so each accepted task ends
`ready` or `failed`. A video is searchable only once its row says `ready` (search admits only
ready videos' assets), so a half-written run is never seen.
"""

from __future__ import annotations

import ctypes
import json
import logging
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from sceneline.pipelines.server.records import FAILED, INDEXING, PENDING, READY, Records, VideoRow, now_text
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.transforms.store.scene_store import SceneStore

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 6 * 3600
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the server dies (kill -9 included), so no orphan keeps
    writing; the restarted server runs the task again from the start."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def store_flags(settings: ServerSettings, index_id: str) -> list[str]:
    store = settings.store_for(index_id)
    flags = [f"--collection={store.collection}"]
    if store.url:
        flags.append(f"--qdrant_url={store.url}")
        if store.api_key:
            flags.append(f"--qdrant_api_key={store.api_key}")
    else:
        flags.append(f"--qdrant_path={store.path}")
    return flags


def system_metadata(row: VideoRow, scenes: list[dict[str, Any]], record) -> dict[str, Any]:
    """TwelveLabs' system_metadata from the first scene's payload (asset-level fields)."""
    first = scenes[0] if scenes else {}
    duration = first.get("duration") or (record.duration_s if record is not None else None)
    return {"filename": row.filename, "duration": duration, "fps": first.get("fps"),
            "width": first.get("width"), "height": first.get("height"), "size": row.size}


class Indexing(Protocol):
    """What the routers ask of indexing: Indexer (uploads on this machine, indexed here) or
    StreamFollower (uploads in a bucket, indexed by the stream pipeline)."""

    busy: int
    queued: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def accept(self, row: VideoRow) -> None: ...


class Indexer:
    def __init__(self, settings: ServerSettings, records: Records):
        self._settings = settings
        self._records = records
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.busy = 0

    def start(self) -> None:
        for row in self._records.unfinished():
            log.info("resuming task %s (%s) left %s", row.task_id, row.filename, row.status)
            self._records.update_video(row.id, status=PENDING)
            self._queue.put(row.id)
        for i in range(self._settings.index_workers):
            thread = threading.Thread(target=self._serve, name=f"sceneline-indexer-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        with self._lock:
            for proc in self._running.values():
                proc.kill()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()  # a later start begins a fresh set of workers

    def accept(self, row: VideoRow) -> None:
        """Record a new upload and index it, unless the same bytes are indexed in its index
        already: then it is a new video over the same scenes, ready at once."""
        earlier = self._records.ready_with_content(row.index_id, row.sha256) if row.sha256 else None
        if earlier is not None:
            row.status, row.asset_id = READY, earlier.asset_id
            self._records.add_video(row)
            self._records.update_video(row.id, system_metadata={**earlier.system_metadata, "filename": row.filename},
                                       indexed_at=row.created_at)
            return
        self._records.add_video(row)
        self.submit(row.id)

    def submit(self, video_id: str) -> None:
        self._queue.put(video_id)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _serve(self) -> None:
        while (video_id := self._queue.get()) is not None:
            row = self._records.video(video_id)
            if row is None or row.status not in (PENDING, INDEXING):
                continue  # deleted meanwhile, or already done
            with self._lock:
                self.busy += 1
            try:
                self._index(row)
            except Exception as exc:  # a run must never take a worker thread down
                log.exception("indexing %s failed", row.task_id)
                self._records.update_video(row.id, status=FAILED, error=f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self.busy -= 1

    def _index(self, row: VideoRow) -> None:
        s = self._settings
        self._records.update_video(row.id, status=INDEXING)
        argv = [f"--input={row.path}", *store_flags(s, row.index_id), f"--thumbnails={s.thumbnails}",
                f"--dead_letter={s.home / 'dead_letters'}", f"--run_dir={s.home / 'runs'}", *s.index_argv,
                *modality_flags(self._records, row.index_id)]
        with tempfile.TemporaryDirectory(prefix="sceneline-run-") as tmp:
            out = Path(tmp) / "outcome.json"
            proc = subprocess.Popen([sys.executable, "-m", "sceneline.pipelines.server.worker", str(out), *argv],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    preexec_fn=_die_with_parent)
            with self._lock:
                self._running[row.id] = proc
            try:
                _, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            finally:
                with self._lock:
                    self._running.pop(row.id, None)
            result = json.loads(out.read_text()) if out.exists() else {
                "error": f"the indexing process ended with code {proc.returncode}: {(stderr or '')[-500:]}"}
        if self._records.video(row.id) is None:  # deleted while it ran: drop what the run wrote
            asset_id = next((o.get("asset_id") for o in result.get("outcomes") or []), None)
            if asset_id and self._records.live_users_of(row.index_id, asset_id) == 0:
                SceneStore(self._settings.store_for(row.index_id)).delete_asset(asset_id, reason="video deleted")
            return
        self._finish(row, result)

    def _finish(self, row: VideoRow, result: dict[str, Any]) -> None:
        if "error" in result:
            self._records.update_video(row.id, status=FAILED, error=result["error"])
            return
        outcomes = result.get("outcomes") or []
        if not outcomes:
            self._records.update_video(row.id, status=FAILED, error="the indexing run reported no outcome")
            return
        outcome = outcomes[0]
        if outcome["status"] != "indexed":
            reason = outcome.get("error_message") or outcome["status"]
            stage = outcome.get("stage")
            self._records.update_video(row.id, status=FAILED, asset_id=outcome.get("asset_id"),
                                       error=f"[{stage}] {reason}" if stage else reason)
            return
        store = SceneStore(self._settings.store_for(row.index_id))
        asset_id = outcome["asset_id"]
        meta = system_metadata(row, store.scenes_of(asset_id)[:1], store.get_status(asset_id))
        self._records.update_video(row.id, status=READY, asset_id=asset_id, system_metadata=meta,
                                   indexed_at=now_text(), error=None)


def modality_flags(records: Records, index_id: str) -> list[str]:
    """An index's `model_options` decide what is indexed: without `transcription` (or `audio`) its
    videos are not transcribed. Last on the command line, so they win over the server's defaults."""
    index = records.index(index_id)
    options = index.model_options() if index is not None else set()
    return [] if options & {"transcription", "audio"} else ["--transcriber=none"]
