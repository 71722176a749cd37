"""Indexing by the stream pipeline (a gs:// media root): a task follows the status record that
`sceneline stream --api-media-root` keeps for its object in the index's collection.

The server knows each upload's asset id from the start (its object's generation), so it reads
that record (transforms/store/scene_store.py, the assets collection) and maps it onto the task:

    no record yet, pending   -> pending    (the notification is on its way, or queued)
    processing               -> indexing
    indexed                  -> ready      (system metadata from the scenes)
    failed, skipped          -> failed     with the stage and the reason
    deleted                  -> failed     (the object was removed or replaced in the bucket)

A follower thread reads the records of every unfinished task about once a second, so search
(which admits only ready videos) and the task list stay in step with the stream.
"""

from __future__ import annotations

import logging
import threading

from sceneline.pipelines.server.indexer import system_metadata
from sceneline.pipelines.server.records import FAILED, INDEXING, PENDING, READY, Records, VideoRow, now_text
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.schemas import AssetRecord, AssetStatus
from sceneline.transforms.store.scene_store import SceneStore

log = logging.getLogger(__name__)

POLL_S = 1.0
TASK_STATUS = {AssetStatus.PENDING: PENDING, AssetStatus.PROCESSING: INDEXING, AssetStatus.INDEXED: READY,
               AssetStatus.FAILED: FAILED, AssetStatus.SKIPPED: FAILED, AssetStatus.DELETED: FAILED}


def failure_reason(record: AssetRecord) -> str:
    if record.status is AssetStatus.DELETED:
        return f"removed from the bucket before it was indexed: {record.error_message or 'deleted'}"
    reason = record.error_message or record.error_type or record.status.value
    if record.status is AssetStatus.SKIPPED:
        return f"[admit] {reason}"
    return f"[{record.stage}] {reason}" if record.stage else reason


class StreamFollower:
    """The Indexer's counterpart for a bucket media root: nothing runs here, tasks follow the index."""

    def __init__(self, settings: ServerSettings, records: Records):
        self._settings = settings
        self._records = records
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = 0  # tasks the stream is indexing now
        self.queued = 0  # tasks waiting for the stream

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="sceneline-stream-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def accept(self, row: VideoRow) -> None:
        """A new upload, already in the bucket: the stream indexes it; its task follows."""
        self._records.add_video(row)
        self._wake.set()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.follow_once()
            except Exception:  # a store hiccup must not end the follower: the next round tries again
                log.exception("could not read the stream's status records")
            self._wake.wait(POLL_S)
            self._wake.clear()

    def follow_once(self) -> None:
        unfinished = self._records.unfinished()
        for row in unfinished:
            self._follow_row(row)
        statuses = [r.status for r in self._records.unfinished()]
        self.busy, self.queued = statuses.count(INDEXING), len(statuses) - statuses.count(INDEXING)

    def _follow_row(self, row: VideoRow) -> None:
        if not row.asset_id:
            self._records.update_video(row.id, status=FAILED, error="the upload has no object generation to follow")
            return
        store = SceneStore(self._settings.store_for(row.index_id))
        record = store.get_status(row.asset_id)
        status = TASK_STATUS[record.status] if record is not None else PENDING
        if status == row.status:
            return
        if status == READY:
            meta = system_metadata(row, store.scenes_of(row.asset_id)[:1], record)
            self._records.update_video(row.id, status=READY, system_metadata=meta, indexed_at=now_text(), error=None)
        elif status == FAILED:
            self._records.update_video(row.id, status=FAILED, error=failure_reason(record))
        else:
            self._records.update_video(row.id, status=status)
