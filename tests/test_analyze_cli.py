"""`sceneline summarize | analyze | reel` on a video indexed from real media (tiny open_clip
model, no captioner, no OCR). The analyzer is a local OpenAI-compatible endpoint standing in for
a chat model, whose weights cannot be had here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest

from conftest import media
from fake_endpoint import FakeEndpoint, Reply
from test_cli import sceneline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip):
    work = tmp_path_factory.mktemp("analyze-cli")
    video = work / "psd_testvideo.mp4"
    shutil.copy(media("videos/psd_testvideo.mp4"), video)
    result = sceneline("index", str(video), "--visual-model", tiny_clip.spec, "--captioner", "none", "--no-ocr",
                       "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    [asset] = json.loads(result.stdout)["assets"]
    scenes = json.loads(sceneline("status", asset["asset_id"], "--json", cwd=work).stdout)
    return work, video, asset, scenes


def scene_bounds(work: Path, asset_id: str) -> list[tuple[float, float]]:
    from sceneline.transforms.store.scene_store import SceneStore, close_shared_clients, store_config

    store = SceneStore(store_config(str(work / ".sceneline/qdrant")))
    try:
        return [(p["start_s"], p["end_s"]) for p in store.scenes_of(asset_id)]
    finally:
        close_shared_clients()


def test_summarize_chapters_lie_on_scene_boundaries_inside_the_video(indexed):
    work, video, asset, _ = indexed
    bounds = scene_bounds(work, asset["asset_id"])
    end = bounds[-1][1]
    reply = {"chapters": [{"start_sec": 0.3, "end_sec": bounds[0][1] + 0.2, "chapter_title": "one", "chapter_summary": "a"},
                          {"start_sec": bounds[0][1] - 0.1, "end_sec": end + 30, "chapter_title": "two", "chapter_summary": "b"}]}
    with FakeEndpoint(lambda body, n: Reply(content=json.dumps(reply))) as endpoint:
        # By the path it was indexed from, as a user would name it.
        result = sceneline("summarize", str(video), "--type", "chapter", "--analyzer", "openai:fake-vlm",
                           "--analyzer-url", endpoint.url, "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    chapters = json.loads(result.stdout)["chapters"]
    boundaries = {b for span in bounds for b in span}
    assert chapters and all(c["start_sec"] in boundaries and c["end_sec"] in boundaries for c in chapters)
    assert chapters[0]["start_sec"] == 0.0 and chapters[-1]["end_sec"] == pytest.approx(end)
    assert len(endpoint.requests) == 1


def test_a_reel_of_indexed_scenes_plays_for_their_summed_duration(indexed):
    work, _video, asset, _ = indexed
    bounds = scene_bounds(work, asset["asset_id"])
    chosen = list(range(min(3, len(bounds))))
    out = work / "reel.mp4"
    result = sceneline("reel", asset["asset_id"], "--scenes", ",".join(map(str, chosen)), "-o", str(out), "--json",
                       cwd=work)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        duration = float(container.duration) / av.time_base
        rate = float(container.streams.video[0].average_rate or 25)
    expected = sum(bounds[i][1] - bounds[i][0] for i in chosen)
    assert duration == pytest.approx(expected, abs=len(chosen) * 1.5 / rate)


def test_user_mistakes_are_one_line_on_stderr(indexed):
    work, _video, asset, _ = indexed
    unknown = sceneline("analyze", "no-such-video", "--prompt", "x", "--analyzer", "openai:m",
                        "--analyzer-url", "http://127.0.0.1:9/v1", cwd=work)
    assert unknown.returncode == 2 and "no indexed video" in unknown.stderr and "Traceback" not in unknown.stderr
    down = sceneline("analyze", asset["asset_id"], "--prompt", "x", "--analyzer", "openai:m",
                     "--analyzer-url", "http://127.0.0.1:9/v1", "--analyzer-timeout", "2", cwd=work)
    assert down.returncode == 2 and "analyzer endpoint" in down.stderr and "Traceback" not in down.stderr


def test_ask_answers_in_turn_and_each_question_carries_the_conversation(indexed):
    import os
    import subprocess
    import sys

    work, _video, asset, _ = indexed
    exe = Path(sys.executable).with_name("sceneline")
    with FakeEndpoint(lambda body, n: Reply(content=f"answer number {n}")) as endpoint:
        result = subprocess.run(
            [str(exe), "ask", asset["asset_id"], "--analyzer", "openai:fake-vlm", "--analyzer-url", endpoint.url],
            input="what is shown?\nand after that?\n\n", cwd=work, capture_output=True, text=True, timeout=300,
            env={**os.environ, "SCENELINE_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["answer number 0", "answer number 1"]
    second = endpoint.requests[1]["messages"]
    assert {"role": "user", "content": "what is shown?"} in second
    assert {"role": "assistant", "content": "answer number 0"} in second
    assert second[-1] == {"role": "user", "content": "and after that?"}
