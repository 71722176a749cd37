"""`kill -9` of `sceneline serve` while it indexes, then a restart on the same home folder: every
accepted task ends ready or failed, no upload is lost, and search only ever returns ready videos.
Also: without an API key, serve refuses any address but loopback (one line, exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_server import fast_model_flags, start, stop, wait_for_task
from conftest import media

pytestmark = pytest.mark.slow

VIDEOS = ("videos/techslides_small.mp4", "videos/imageio_realshort.mp4", "videos/techslides_small.webm")


def test_kill_9_while_indexing_loses_nothing(tmp_path, tiny_clip):
    home = tmp_path / "home"
    flags = fast_model_flags(tiny_clip.spec)
    server = start(home, flags)
    try:
        client = server.client()
        index_id = client.indexes.create(index_name="crash", models=[
            {"model_name": "marengo3.0", "model_options": ["visual"]}]).id
        accepted = []
        for path in VIDEOS:
            with open(media(path), "rb") as f:
                accepted.append(client.tasks.create(index_id=index_id, video_file=f))
        deadline = time.monotonic() + 120
        while client.tasks.retrieve(accepted[0].id).status != "indexing":
            assert time.monotonic() < deadline, "the first task never started indexing"
            time.sleep(0.1)
    finally:
        stop(server, hard=True)  # kill -9: no shutdown code runs
    assert server.process.returncode == -9

    server = start(home, flags)
    try:
        client = server.client()
        ready_so_far: set[str] = set()
        deadline = time.monotonic() + 600
        while True:
            states = {t.video_id: client.tasks.retrieve(t.id).status for t in accepted}
            ready_so_far |= {v for v, s in states.items() if s == "ready"}
            found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=50)
            # Only videos already ready can be returned: never a half-indexed one.
            assert {c.video_id for c in found.data} <= ready_so_far | {
                v for v, s in states.items() if s == "ready"}
            if all(s in ("ready", "failed") for s in states.values()):
                break
            assert time.monotonic() < deadline, f"tasks unfinished after restart: {states}"
            time.sleep(0.5)
        finals = [wait_for_task(client, t.id) for t in accepted]
        assert [t.status for t in finals] == ["ready"] * len(VIDEOS)
        for task, path in zip(finals, VIDEOS):
            video = client.indexes.indexed_assets.retrieve(index_id, task.video_id)
            assert video.system_metadata.size == media(path).stat().st_size  # every upload kept, whole
        found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=50,
                                     group_by="video")
        assert sorted(g.id for g in found.data) == sorted(t.video_id for t in finals)
    finally:
        stop(server)


def test_serve_without_a_key_refuses_other_addresses(tmp_path):
    exe = Path(sys.executable).with_name("sceneline")
    done = subprocess.run([str(exe), "serve", "--host", "0.0.0.0", "--home", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "without an API key" in done.stderr
    assert not (tmp_path / "server.sqlite3").exists()  # refused before anything was opened
