"""Generation about a whole video, grounded in the index. A local OpenAI-compatible endpoint
(tests/fake_endpoint.py) stands in for a chat model, whose weights cannot be had here; the
local-model path runs a tiny causal LM the test builds and saves with random weights."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from fake_endpoint import FakeEndpoint, Reply
from sceneline.pipelines.analysis import (
    AnalysisRequest,
    AnalysisSettings,
    Analyzer,
    AnswerCache,
    InvalidAnswerError,
    VideoNotFoundError,
    snap_spans,
)
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.schemas.speech import SpeechSegment
from sceneline.transforms.models.caption_spec import EndpointSettings
from sceneline.transforms.models.generation import GeneratorConfig, load_generator
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig

VIDEO = "33333333-3333-5333-8333-333333333333"
LONG = "44444444-4444-5444-8444-444444444444"


def video_asset(asset_id: str, n_scenes: int, scene_s: float = 2.0, uri: str = "/videos/talk.mp4") -> AnalyzedAsset:
    scenes = []
    for i in range(n_scenes):
        start = i * scene_s
        scenes.append(Scene(
            index=i, start_s=start, end_s=start + scene_s, start_frame=i * 50, end_frame=i * 50 + 49,
            vectors={VISUAL_VECTOR: [1.0, 0.0, 0.0, 0.0]},
            enrichment={"description": f"a person at a whiteboard, part {i}", "tags": ["whiteboard", f"t{i}"],
                        "visible_text": f"SLIDE {i} QUARTERLY REVENUE", "transcript": f"word{i} revenue grew"}))
    # What the transcriber stage stores: speech segments on their own time ranges.
    speech = [SpeechSegment(index=i, start_s=i * scene_s + 0.5, end_s=i * scene_s + 1.5, text=f"word{i} revenue grew")
              for i in range(n_scenes)]
    media = MediaAsset(asset_id=asset_id, uri=uri, media_type=MediaType.VIDEO, size_bytes=100)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(duration_s=n_scenes * scene_s, display_width=640,
                                                      display_height=360), scenes=scenes, speech=speech)


@pytest.fixture(scope="module")
def store() -> SceneStore:
    s = SceneStore(StoreConfig(path=":memory:", collection="analyze_tests"))
    s.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
    for analyzed in (video_asset(VIDEO, 4), video_asset(LONG, 120, scene_s=5.0, uri="/videos/long.mp4")):
        s.write_scenes(analyzed)
        s.write_speech(analyzed)
    return s


def analyzer_for(endpoint: FakeEndpoint, store: SceneStore, cache: AnswerCache | None = None, **settings) -> Analyzer:
    generator = load_generator(GeneratorConfig("openai:fake-vlm", EndpointSettings(
        base_url=endpoint.url, attempts=settings.pop("attempts", 2), backoff_s=0.01,
        timeout_s=settings.pop("timeout_s", 10.0))))
    return Analyzer(store, generator, AnalysisSettings(**settings), cache)


def prompt_text(body: dict) -> str:
    parts = []
    for m in body["messages"]:
        content = m["content"]
        parts += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(parts)


def test_the_prompt_carries_scene_times_visible_text_and_timed_speech(store):
    with FakeEndpoint(lambda body, n: Reply(content="Revenue grew, as the speaker says at 0.5s.")) as endpoint:
        result = analyzer_for(endpoint, store).analyze(VIDEO, AnalysisRequest("What is said about revenue?"))
    assert result.text == "Revenue grew, as the speaker says at 0.5s." and result.windows == 1
    sent = prompt_text(endpoint.requests[0])
    assert "[2.0s-4.0s] scene 1" in sent and "[6.0s-8.0s] scene 3" in sent
    assert "SLIDE 2 QUARTERLY REVENUE" in sent
    assert "said at 2.5s-3.5s: 'word1 revenue grew'" in sent
    assert "What is said about revenue?" in sent


def test_start_and_end_time_restrict_the_context(store):
    with FakeEndpoint(lambda body, n: Reply(content="ok")) as endpoint:
        analyzer_for(endpoint, store).analyze(VIDEO, AnalysisRequest("x", start_time=2.0, end_time=4.0))
    sent = prompt_text(endpoint.requests[0])
    assert "scene 1" in sent and "scene 0" not in sent and "scene 2" not in sent


def test_an_unknown_video_is_a_clear_error(store):
    with FakeEndpoint(lambda body, n: Reply(content="ok")) as endpoint:
        with pytest.raises(VideoNotFoundError, match="no indexed video"):
            analyzer_for(endpoint, store).analyze("no-such-video", AnalysisRequest("x"))
    assert endpoint.requests == []


SCHEMA = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}


def test_an_answer_outside_the_schema_is_asked_again_once_with_the_reason(store):
    answers = ["there are four", json.dumps({"count": 4})]
    with FakeEndpoint(lambda body, n: Reply(content=answers[n])) as endpoint:
        result = analyzer_for(endpoint, store).analyze(VIDEO, AnalysisRequest("How many slides?", json_schema=SCHEMA))
    assert result.value == {"count": 4}
    assert len(endpoint.requests) == 2
    retry = endpoint.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "there are four"}
    assert "cannot be used" in retry[-1]["content"] and "JSON" in retry[-1]["content"]
    assert endpoint.requests[0]["response_format"]["json_schema"]["schema"] == SCHEMA


def test_an_answer_outside_the_schema_twice_fails_with_the_reason(store):
    with FakeEndpoint(lambda body, n: Reply(content=json.dumps({"count": "four"}))) as endpoint:
        with pytest.raises(InvalidAnswerError, match="count: 'four' is not of type 'integer'"):
            analyzer_for(endpoint, store).analyze(VIDEO, AnalysisRequest("How many?", json_schema=SCHEMA))
    assert len(endpoint.requests) == 2


def test_streaming_yields_the_answer_in_pieces(store):
    text = "The speaker talks about quarterly revenue across four slides."
    with FakeEndpoint(lambda body, n: Reply(content=text)) as endpoint:
        pieces = list(analyzer_for(endpoint, store).analyze_stream(VIDEO, AnalysisRequest("Summarise")))
    assert len(pieces) > 3 and "".join(pieces) == text
    assert endpoint.requests[0]["stream"] is True


def test_a_long_video_is_map_reduced_within_the_budget(store):
    def script(body, n):
        sent = prompt_text(body)
        return Reply(content="notes: revenue at 12.5s" if "Write brief notes" in sent else "final answer")

    with FakeEndpoint(script) as endpoint:
        result = analyzer_for(endpoint, store, context_tokens=512).analyze(LONG, AnalysisRequest("What about revenue?"))
    assert result.text == "final answer" and result.windows > 5
    budget_chars = 512 * 4
    for body in endpoint.requests:  # bounded: one window of context, plus the instructions
        assert len(prompt_text(body)) < budget_chars + 2000
    maps = [b for b in endpoint.requests if "Write brief notes" in prompt_text(b)]
    assert len(maps) >= result.windows
    covered = "\n".join(prompt_text(b) for b in maps)
    assert "scene 0\n" in covered and "scene 119\n" in covered  # every scene went into some window
    final = prompt_text(endpoint.requests[-1])
    assert "Notes taken over the whole range" in final and "notes: revenue at 12.5s" in final


def test_chapters_snap_to_scene_boundaries_inside_the_video(store):
    chapters = {"chapters": [
        {"start_sec": -3, "end_sec": 3.1, "chapter_title": "a", "chapter_summary": "first"},
        {"start_sec": 2.9, "end_sec": 6.2, "chapter_title": "b", "chapter_summary": "second"},
        {"start_sec": 6.0, "end_sec": 99, "chapter_title": "c", "chapter_summary": "past the end"}]}
    with FakeEndpoint(lambda body, n: Reply(content=json.dumps(chapters))) as endpoint:
        result = analyzer_for(endpoint, store).summarize(VIDEO, "chapter")
    boundaries = {0.0, 2.0, 4.0, 6.0, 8.0}
    spans = [(c["start_sec"], c["end_sec"]) for c in result["chapters"]]
    assert spans == [(0.0, 4.0), (4.0, 6.0), (6.0, 8.0)]
    assert all(a in boundaries and b in boundaries for a, b in spans)
    assert "0.0, 2.0, 4.0, 6.0, 8.0" in prompt_text(endpoint.requests[0])


def test_snapping_keeps_spans_in_order_without_overlaps():
    spans = snap_spans([{"start_sec": 4.2, "end_sec": 7.9}, {"start_sec": 0.3, "end_sec": 5.1},
                        {"start_sec": 6.5, "end_sec": 6.9}],
                       [0, 2, 4, 6, 8], 0, 8)
    assert [(s["start_sec"], s["end_sec"]) for s in spans] == [(0, 6), (6, 8)]


def test_the_same_request_at_temperature_zero_comes_from_the_cache(store, tmp_path):
    cache = AnswerCache(tmp_path / "cache.sqlite")
    with FakeEndpoint(lambda body, n: Reply(content=f"answer {n}")) as endpoint:
        analyzer = analyzer_for(endpoint, store, cache=cache)
        first = analyzer.analyze(VIDEO, AnalysisRequest("q", temperature=0))
        again = analyzer.analyze(VIDEO, AnalysisRequest("q", temperature=0))
        warm = analyzer.analyze(VIDEO, AnalysisRequest("q", temperature=0.7))
        other = analyzer.analyze(VIDEO, AnalysisRequest("another q", temperature=0))
    assert (first.text, again.text, again.cached) == ("answer 0", "answer 0", True)
    assert (warm.text, other.text) == ("answer 1", "answer 2") and len(endpoint.requests) == 3


def test_gist_returns_only_the_types_asked_for(store):
    answer = {"title": "Quarterly revenue", "topics": ["finance"], "hashtags": ["#revenue", "growth"]}
    with FakeEndpoint(lambda body, n: Reply(content=json.dumps(answer))) as endpoint:
        result = analyzer_for(endpoint, store).gist(VIDEO, ["title", "hashtag"])
    assert result["title"] == "Quarterly revenue" and result["hashtags"] == ["revenue", "growth"]
    assert "topics" not in result


def test_keyframes_go_as_images_and_a_text_only_model_gets_text(store, tmp_path):
    thumb = tmp_path / "k.jpg"
    from PIL import Image
    Image.new("RGB", (32, 24), (200, 10, 10)).save(thumb)
    local = SceneStore(StoreConfig(path=":memory:", collection="analyze_thumbs"))
    local.ensure_collections({VISUAL_VECTOR: 4}, {VISUAL_VECTOR: "test-model"})
    asset = video_asset(VIDEO, 2)
    for scene in asset.scenes:
        scene.thumbnail_uri = str(thumb)
    local.write_scenes(asset)

    def script(body, n):
        has_image = any(isinstance(m["content"], list) for m in body["messages"])
        return Reply(400, raw='{"error": {"message": "model takes no images"}}') if has_image else Reply(content="ok")

    with FakeEndpoint(script) as endpoint:
        result = analyzer_for(endpoint, local, keyframes=2).analyze(VIDEO, AnalysisRequest("x"))
    assert result.text == "ok" and len(endpoint.requests) == 2
    images = [p for m in endpoint.requests[0]["messages"] if isinstance(m["content"], list)
              for p in m["content"] if p["type"] == "image_url"]
    assert len(images) == 2 and images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")


# ---- the local transformers path ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sceneline.benchmarks.random_vlm import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer(["the video shows a whiteboard and revenue slides", "scene said text"] * 20,
                                vocab_size=300)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_local_causal_lm_answers_and_streams_through_the_same_path(store, tiny_lm):
    generator = load_generator(GeneratorConfig(str(tiny_lm)))
    analyzer = Analyzer(store, generator, AnalysisSettings(keyframes=0))
    request = AnalysisRequest("What is on the slides?", temperature=0, max_tokens=8)
    first = analyzer.analyze(VIDEO, request)
    again = analyzer.analyze(VIDEO, request)
    assert first.text == again.text and first.output_tokens > 0 and first.input_tokens > 50
    assert "".join(analyzer.analyze_stream(VIDEO, request)).strip() == first.text


# ---- reels ------------------------------------------------------------------------------------
def frames_and_duration(path: Path) -> tuple[int, float, float]:
    """Video frames, the file's duration, and the seconds of sound it decodes to."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration) / av.time_base
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        sound = sum(f.samples for f in container.decode(audio=0)) / rate
    return frames, duration, sound


@pytest.fixture(scope="module")
def keyed_clip(tmp_path_factory) -> Path:
    """6 s at 25 fps, a keyframe every second, with a tone as its sound."""
    from fractions import Fraction

    path = tmp_path_factory.mktemp("reel") / "source.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(25))
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        video.options = {"g": "25", "keyint_min": "25", "sc_threshold": "0"}
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for i in range(150):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.full((96, 128, 3), (i * 5) % 255, np.uint8),
                                                                  format="rgb24")))
        container.mux(video.encode())
        tone = (0.3 * np.sin(np.arange(16000 * 6) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[start:start + 1024].reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    return path


@pytest.mark.parametrize("spans, mode", [
    ([(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)], "copy"),  # cuts on keyframes: packets copied
    ([(0.52, 1.32), (3.12, 4.0), (4.2, 5.0)], "encode"),  # cuts between keyframes: re-encoded
])
def test_a_reel_of_three_scenes_plays_for_the_sum_of_their_durations(keyed_clip, tmp_path, spans, mode):
    from sceneline.pipelines.reel import render_reel

    result = render_reel(str(keyed_clip), spans, tmp_path / "reel.mp4")
    frames, duration, sound = frames_and_duration(result.path)
    expected = sum(b - a for a, b in spans)
    assert result.mode == mode
    assert duration == pytest.approx(expected, abs=0.07 * len(spans))
    assert frames == pytest.approx(expected * 25, abs=len(spans))
    assert sound == pytest.approx(expected, abs=0.07 * len(spans))  # the sound goes along


def test_the_quick_benchmark_scores_chapters_and_answers(tmp_path, media_root):
    from sceneline.benchmarks import analyze as bench

    bench.main(["--quick", "--out", str(tmp_path), "--media", str(media_root)])
    figures = json.loads((tmp_path / "analyze.json").read_text())["figures"]
    video = figures["videos"]["groundtruth/gt_hardcuts.mp4"]
    assert figures["stand_in"] and video["chapters"] >= 2 and video["questions"] == 3
    # The stand-in answers only from what it was sent: right answers mean the grounding carried them.
    assert video["on_screen_correct"] == 3 and video["spoken_correct"] == 3
    assert "stand-in endpoint" in (tmp_path / "analyze.md").read_text()
