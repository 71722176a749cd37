"""The analyze routes through the official TwelveLabs SDK (1.3.6) against a local server, on a
video indexed from real media. The analyzer is a local OpenAI-compatible endpoint standing in
for a chat model (no chat-model weights can be had here). No API server package exists on this
branch yet (issue 19), so the routes are mounted on a minimal FastAPI app served by uvicorn on
127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from conftest import media
from fake_endpoint import FakeEndpoint, Reply
from test_analyze import VIDEO, prompt_text, video_asset
from sceneline.pipelines.analysis import AnalysisSettings
from sceneline.pipelines.analyze_routes import build_router, store_locator
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.models.caption_spec import EndpointSettings
from sceneline.transforms.models.generation import GeneratorConfig, load_generator
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig

twelvelabs = pytest.importorskip("twelvelabs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: FastAPI):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1.3"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def store():
    s = SceneStore(StoreConfig(path=":memory:", collection="analyze_api"))
    s.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
    analyzed = video_asset(VIDEO, 4)
    s.write_scenes(analyzed)
    s.write_speech(analyzed)
    return s


def app_for(store, url: str, *, timeout_s: float = 10.0, tasks_path: Path | None = None) -> FastAPI:
    settings = EndpointSettings(base_url=url, attempts=1, backoff_s=0.01, timeout_s=timeout_s)
    app = FastAPI()
    app.include_router(build_router(store_locator(store), lambda: load_generator(GeneratorConfig("openai:fake-vlm", settings)),
                                    settings=AnalysisSettings(keyframes=0), tasks_path=tasks_path))
    return app


def _wait_for(client, task_id: str, statuses: tuple[str, ...], timeout_s: float = 20):
    deadline = time.time() + timeout_s
    task = client.analyze_async.tasks.retrieve(task_id)
    while task.status not in statuses and time.time() < deadline:
        time.sleep(0.1)
        task = client.analyze_async.tasks.retrieve(task_id)
    return task


def test_background_tasks_outlive_a_restart(store, tmp_path):
    """A finished task still answers after the server restarts; one the restart cut short ends
    failed with that reason (it would otherwise stay `processing` for ever)."""
    release = threading.Event()

    def script(body, n):
        if "stuck" in prompt_text(body):
            release.wait(30)
        return Reply(content="kept answer")

    tasks_file = tmp_path / "tasks.sqlite3"
    video = {"type": "asset_id", "asset_id": VIDEO}
    try:
        with FakeEndpoint(script) as endpoint:
            with serve(app_for(store, endpoint.url, tasks_path=tasks_file)) as base:
                client = twelvelabs.TwelveLabs(api_key="local", base_url=base)
                done = client.analyze_async.tasks.create(video=video, prompt="q")
                assert _wait_for(client, done.task_id, ("ready", "failed")).status == "ready"
                stuck = client.analyze_async.tasks.create(video=video, prompt="stuck")
                assert _wait_for(client, stuck.task_id, ("processing",)).status == "processing"
            with serve(app_for(store, endpoint.url, tasks_path=tasks_file)) as base:  # the restart
                client = twelvelabs.TwelveLabs(api_key="local", base_url=base)
                kept = client.analyze_async.tasks.retrieve(done.task_id)
                cut = client.analyze_async.tasks.retrieve(stuck.task_id)
    finally:
        release.set()
    assert kept.status == "ready" and kept.result.data == "kept answer"
    assert cut.status == "failed" and cut.error.code == "task_interrupted" and "create the task again" in cut.error.message


def test_sdk_analyze_plain_and_streaming_gets_the_answer_grounded_in_timed_speech(store):
    answer = "Revenue grew, the speaker says at 2.5s."
    with FakeEndpoint(lambda body, n: Reply(content=answer)) as endpoint, \
            serve(app_for(store, endpoint.url)) as base:
        client = twelvelabs.TwelveLabs(api_key="local", base_url=base)
        plain = client.analyze(video={"type": "asset_id", "asset_id": VIDEO}, prompt="What grew?",
                               temperature=0.2, max_tokens=200)
        events = list(client.analyze_stream(video={"type": "asset_id", "asset_id": VIDEO}, prompt="What grew?"))
    assert plain.data == answer and plain.finish_reason == "stop"
    kinds = [e.event_type for e in events]
    assert kinds[0] == "stream_start" and kinds[-1] == "stream_end" and kinds.count("text_generation") > 1
    assert "".join(e.text for e in events if e.event_type == "text_generation") == answer
    for body in endpoint.requests:  # the model was given the transcript with its times
        assert "said at 2.5s-3.5s: 'word1 revenue grew'" in prompt_text(body)


def test_an_endpoint_that_is_down_or_slow_is_a_503_or_504_and_the_server_stays_up(store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    body = {"video": {"type": "asset_id", "asset_id": VIDEO}, "prompt": "q", "stream": False}
    with serve(app_for(store, closed)) as base:
        down = httpx.post(f"{base}/analyze", json=body, timeout=30)
        streamed = httpx.post(f"{base}/analyze", json={**body, "stream": True}, timeout=30)
        unknown = httpx.post(f"{base}/analyze", json={**body, "video": {"type": "asset_id", "asset_id": "nope"}})
        bad = httpx.post(f"{base}/analyze", json={"prompt": ""})
        summary = httpx.post(f"{base}/summarize", json={"video_id": VIDEO, "type": "chapter"})
    assert down.status_code == 503 and down.json()["code"] == "analyzer_unavailable" and down.json()["message"]
    assert streamed.status_code == 503 and summary.status_code == 503
    assert unknown.status_code == 404 and unknown.json()["code"] == "video_not_found"
    assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid"

    with FakeEndpoint(lambda body, n: Reply(content="late", delay_s=2.0) if n == 0 else Reply(content="fine")) as ep, \
            serve(app_for(store, ep.url, timeout_s=0.5)) as base:
        slow = httpx.post(f"{base}/analyze", json=body, timeout=30)
        after = httpx.post(f"{base}/analyze", json=body, timeout=30)
    assert slow.status_code == 504 and slow.json()["code"] == "analyzer_timeout"
    assert after.status_code == 200 and after.json()["data"] == "fine"


def test_tasks_summarize_and_gist_in_twelvelabs_shapes(store):
    def script(body, n):
        text = prompt_text(body)
        if "Divide the video into chapters" in text:
            return Reply(content=json.dumps({"chapters": [
                {"start_sec": 0.2, "end_sec": 4.3, "chapter_title": "Intro", "chapter_summary": "s"},
                {"start_sec": 4.3, "end_sec": 50, "chapter_title": "Numbers", "chapter_summary": "s"}]}))
        if "hashtags" in text:
            return Reply(content=json.dumps({"title": "T", "topics": ["a"], "hashtags": ["b"]}))
        return Reply(content="task answer")

    with FakeEndpoint(script) as endpoint, serve(app_for(store, endpoint.url)) as base:
        client = twelvelabs.TwelveLabs(api_key="local", base_url=base)
        created = client.analyze_async.tasks.create(video={"type": "asset_id", "asset_id": VIDEO}, prompt="q")
        deadline = time.time() + 20
        task = client.analyze_async.tasks.retrieve(created.task_id)
        while task.status not in ("ready", "failed") and time.time() < deadline:
            time.sleep(0.1)
            task = client.analyze_async.tasks.retrieve(created.task_id)
        chapters = httpx.post(f"{base}/summarize", json={"video_id": VIDEO, "type": "chapter"}).json()
        gist = httpx.post(f"{base}/gist", json={"video_id": VIDEO, "types": ["title", "hashtag"]}).json()
        missing = httpx.get(f"{base}/analyze/tasks/none")
    assert task.status == "ready" and task.result.data == "task answer"
    assert chapters["summarize_type"] == "chapter"
    assert [(c["start_sec"], c["end_sec"]) for c in chapters["chapters"]] == [(0.0, 4.0), (4.0, 8.0)]
    assert gist["title"] == "T" and gist["hashtags"] == ["b"] and "topics" not in gist
    assert missing.status_code == 404 and missing.json()["code"] == "task_not_found"


def test_the_reel_route_renders_chosen_scenes_and_rejects_bad_ones(tmp_path):
    import av
    import numpy as np

    from clips import write_video
    from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene

    clip = write_video(tmp_path / "clip.mp4", [np.full((96, 128, 3), (i * 5) % 255, np.uint8) for i in range(100)],
                       options={"g": "25", "keyint_min": "25", "sc_threshold": "0"})
    asset_id = "55555555-5555-5555-8555-555555555555"
    local = SceneStore(StoreConfig(path=":memory:", collection="analyze_reels"))
    local.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
    local.write_scenes(AnalyzedAsset(
        asset=MediaAsset(asset_id=asset_id, uri=str(clip), media_type=MediaType.VIDEO, size_bytes=1),
        probe=ProbeInfo(duration_s=4.0, display_width=128, display_height=96),
        scenes=[Scene(index=i, start_s=float(i), end_s=float(i + 1), start_frame=25 * i, end_frame=25 * i + 24,
                      vectors={VISUAL_VECTOR: [1.0, 0, 0, 0]}) for i in range(4)]))
    with serve(app_for(local, "http://127.0.0.1:9/v1")) as base:
        ok = httpx.post(f"{base}/reels", json={"video_id": asset_id, "scenes": [0, 2, 3]}, timeout=60)
        missing = httpx.post(f"{base}/reels", json={"video_id": asset_id, "scenes": [7]})
        outside = httpx.post(f"{base}/reels", json={"video_id": asset_id, "spans": [{"start": 9, "end": 12}]})
    assert ok.status_code == 200 and ok.headers["content-type"] == "video/mp4"
    (tmp_path / "reel.mp4").write_bytes(ok.content)
    with av.open(str(tmp_path / "reel.mp4")) as container:
        assert float(container.duration) / av.time_base == pytest.approx(3.0, abs=0.05)
    assert missing.status_code == 400 and "no scene 7" in missing.json()["message"]
    assert outside.status_code == 400 and outside.json()["code"] == "parameter_invalid"
    deadline = time.time() + 5  # served files are removed once sent
    while list(Path(tempfile.gettempdir()).glob("reel-*.mp4")) and time.time() < deadline:
        time.sleep(0.05)
    assert not list(Path(tempfile.gettempdir()).glob("reel-*.mp4"))
