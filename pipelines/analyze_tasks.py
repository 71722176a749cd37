"""Where the analyze routes' background tasks are kept (analyze_routes.TaskBook), each task a JSON
object under its `task_id`:

    SqliteTaskShelf   a sqlite file: one server; at its start, a task still unfinished was cut
                      short by the restart
    (a shared shelf)  every replica of a server reads and writes the same tasks (the Qdrant
                      records, pipelines/server/records_qdrant.py); a task is cut short when the
                      replica running it stops beating its heartbeat
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol


class TaskShelf(Protocol):
    shared: bool  # True: other processes keep tasks here too (read every task afresh, never all at start)

    def all(self) -> list[dict[str, Any]]: ...

    def get(self, task_id: str) -> dict[str, Any] | None: ...

    def keep(self, task: dict[str, Any]) -> None: ...


class SqliteTaskShelf:
    """Tasks in a sqlite file, written as they change (one process owns the file)."""

    shared = False

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, task TEXT NOT NULL)")

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(text) for (text,) in self._db.execute("SELECT task FROM tasks").fetchall()]

    def get(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._db.execute("SELECT task FROM tasks WHERE task_id=?", (task_id,)).fetchone()
        return json.loads(found[0]) if found else None

    def keep(self, task: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO tasks VALUES (?, ?)", (task["task_id"], json.dumps(task)))
