"""Scene understanding through the whole batch pipeline (FnApiRunner, a local Qdrant folder) with
the real OCR and text-embedding models: a video made from real footage with words burned into
its middle shot is found by a text query for those words, at that shot's time range.

The captioner is an OpenAI-compatible server on 127.0.0.1 (no VLM weights can be had here, and
the local backend has its own tests); the visual model is the tests' tiny open_clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clips import burn_text, read_frames, write_video
from conftest import media
from fake_endpoint import FakeEndpoint, answer
from sceneline.pipelines import batch_index
from sceneline.pipelines.search import search
from sceneline.schemas import AssetStatus, SearchRequest
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow

FPS = 25
SHOT_FRAMES = 50  # three 2-second shots of real footage, cut hard
WORDS = "HARBOR NIGHT MARKET"


def make_inputs(folder: Path) -> dict:
    source = media("groundtruth/gt_hardcuts.mp4")
    shots = [read_frames(source, start, SHOT_FRAMES) for start in (0, 440, 1050)]
    shots[1] = [burn_text(f, WORDS, (180, 270), size=30) for f in shots[1]]
    video = write_video(folder / "market.mp4", [f for shot in shots for f in shot], fps=FPS)
    photo = np.asarray(Image.open(media("images/imagenet_sample/n01530575_brambling.JPEG")).convert("RGB"))
    Image.fromarray(burn_text(photo, "FRESH BAKERY", (20, 20), size=36)).save(folder / "bakery.png")
    return {"video": video, "image": folder / "bakery.png", "shot_s": (SHOT_FRAMES / FPS, 2 * SHOT_FRAMES / FPS)}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip):
    work = tmp_path_factory.mktemp("understanding")
    inputs = work / "media"
    inputs.mkdir()
    made = make_inputs(inputs)
    with FakeEndpoint(lambda body, n: answer("a city scene at dusk", ["city", "dusk"])) as endpoint:
        argv = [f"--input={inputs}", f"--qdrant_path={work / 'qdrant'}", f"--visual_model={tiny_clip.spec}",
                "--offline", f"--thumbnails={work / 'thumbs'}", f"--dead_letter={work / 'dead'}",
                f"--run_dir={work / 'runs'}", "--runner=FnApiRunner", "--captioner=openai:fake-vlm",
                f"--captioner_url={endpoint.url}", "--category=vehicle"]
        run = batch_index.run(argv)
        requests = list(endpoint.requests)
    store = SceneStore(StoreConfig(path=str(work / "qdrant")))
    yield {"run": run, "store": store, "work": work, "requests": requests, **made}
    close_shared_clients()


def test_every_asset_indexes_with_description_tags_and_visible_text(indexed):
    run, store = indexed["run"], indexed["store"]
    assert [(o.filename, o.status, o.scene_count) for o in run.outcomes] == [
        ("bakery.png", AssetStatus.INDEXED, 1), ("market.mp4", AssetStatus.INDEXED, 3)]
    scenes = {o.filename: store.scenes_of(o.asset_id) for o in run.outcomes}
    texts = [s["visible_text"].replace(" ", "").upper() for s in scenes["market.mp4"]]
    assert texts == ["", WORDS.replace(" ", ""), ""]
    assert scenes["bakery.png"][0]["visible_text"].replace(" ", "").upper() == "FRESHBAKERY"
    for s in scenes["market.mp4"] + scenes["bakery.png"]:
        assert s["description"] == "a city scene at dusk" and s["tags"] == ["city", "dusk"]
        assert s["content_category"] == "vehicle" and "caption_error" not in s
        assert s["models"]["ocr"].startswith("rapidocr") and s["models"]["captioner"] == "openai:fake-vlm"
    region = scenes["market.mp4"][1]["text_regions"][0]
    assert indexed["shot_s"][0] <= region["time_s"] < indexed["shot_s"][1]  # read from that shot's keyframe
    assert abs(region["box"][0] - 180 / 640) < 0.03
    assert len(indexed["requests"]) == 4  # one prompt per scene, none retried
    assert "vehicle" in indexed["requests"][0]["messages"][0]["content"][0]["text"]


def test_the_run_says_how_long_each_model_stage_took(indexed):
    stages = indexed["run"].stage_seconds
    assert {"analyze", "embed", "ocr", "caption", "text_embedding", "write"} <= set(stages), stages
    assert all(stages[model] > 0 for model in ("embed", "ocr", "caption", "text_embedding")), stages


def test_the_collection_records_the_text_model_beside_the_visual_one(indexed):
    info = indexed["store"].index_info()
    assert info["models"]["text"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["vector_dims"] == {"visual": 64, "text": 384}


def test_a_text_query_for_the_burned_in_words_finds_that_shot(indexed):
    page = search(indexed["store"], SearchRequest(text="harbor night market", modalities="text", limit=3))
    top = page.hits[0]
    start, end = indexed["shot_s"]
    assert top.filename == "market.mp4" and top.scene_index == 1
    assert abs(top.start_s - start) < 0.05 and abs(top.end_s - end) < 0.05
    assert "HARBOR" in top.visible_text.upper() and top.description == "a city scene at dusk"
    assert page.modalities == ("text",) and not page.fused and top.score > page.hits[1].score


def test_fused_search_filters_and_grouping(indexed):
    store = indexed["store"]
    fused = search(store, SearchRequest(text="harbor night market", limit=10))
    assert fused.fused and set(fused.modalities) == {"visual", "text"}
    assert len(fused.hits) == 4 and [h.score for h in fused.hits] == sorted((h.score for h in fused.hits), reverse=True)
    images = search(store, SearchRequest(text="fresh bakery", filter={"media_type": "image"}))
    assert [h.filename for h in images.hits] == ["bakery.png"]
    long = search(store, SearchRequest(text="fresh bakery", filter={"duration": {"gte": 5}}, limit=10))
    assert {h.filename for h in long.hits} == {"market.mp4"}
    grouped = search(store, SearchRequest(text="harbor night market", group_by="video", group_size=2, limit=5))
    assert sorted(g.filename for g in grouped.groups) == ["bakery.png", "market.mp4"]
    assert [len(g.clips) for g in grouped.groups if g.filename == "market.mp4"] == [2]


def test_the_search_command_takes_modality_filter_and_grouping(indexed):
    close_shared_clients()  # a local Qdrant folder admits one process at a time
    exe = Path(sys.executable).with_name("sceneline")
    result = subprocess.run(
        [str(exe), "search", "harbor night market", "--modality", "text", "--qdrant-path",
         str(indexed["work"] / "qdrant"), "--filter", '{"filename": "market.mp4"}', "--group-by", "video",
         "--json"], cwd=indexed["work"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "SCENELINE_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    [group] = json.loads(result.stdout)
    assert group["filename"] == "market.mp4" and len(group["clips"]) == 3
    assert group["clips"][0]["scene_index"] == 1 and "HARBOR" in group["clips"][0]["visible_text"].upper()
    assert group["clips"][0]["tags"] == ["city", "dusk"]


def test_a_captioner_that_cannot_be_had_fails_the_run_before_work(tmp_path):
    exe = Path(sys.executable).with_name("sceneline")
    result = subprocess.run(
        [str(exe), "index", str(media("images/misc/imageio_chelsea.png")), "--visual-model", "none", "--offline"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "SCENELINE_OFFLINE": "1"})
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert result.returncode == 2
    assert "HuggingFaceTB/SmolVLM-256M-Instruct" in message and "--captioner none" in message
    assert not (tmp_path / ".sceneline").exists()  # nothing was written: no store, no outcomes
