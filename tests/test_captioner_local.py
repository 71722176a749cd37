"""The local captioner: a tiny SmolVLM-architecture model that the tests build with transformers,
save, and load through the same path as a real checkpoint (no VLM weights can be downloaded
here). One copy keeps its random weights (its answers are never valid JSON); another is trained
for a few seconds to answer two images with known JSON, so the whole path, from keyframe to
parsed description and tags, runs through real model code."""

from __future__ import annotations

import io
import json
import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from PIL import Image

from sceneline.benchmarks.random_vlm import TINY, build_random_vlm, save
from sceneline.schemas import AnalyzedAsset, FailureStage, Keyframe, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.transforms.models.caption import CaptionHandler, attach_captions, load_captioner, scene_images
from sceneline.transforms.models.caption_prompt import CATEGORIES, CaptionRequest, caption_prompt, repair_prompt
from sceneline.transforms.models.caption_spec import CaptionerConfig, preflight_captioner
from sceneline.transforms.models.captioner_local import _messages
from sceneline.transforms.models.enrich import EnrichAssets
from sceneline.transforms.models.model_spec import ModelUnavailableError


def jpeg_of(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


RED, BLUE = jpeg_of((220, 20, 20)), jpeg_of((20, 20, 220))
ANSWERS = {
    RED: {"description": "a red card on a table", "tags": ["red", "card"]},
    BLUE: {"description": "a blue sky over the sea", "tags": ["blue", "sky", "sea"]},
}


def _train_to_answer(model, processor, examples: dict[bytes, dict], max_steps: int = 400) -> float:
    """Teach the model to answer each image's first caption request with its JSON."""
    import torch

    texts, images, prompt_lengths = [], [], []
    for jpeg, reply in examples.items():
        request = CaptionRequest.first(jpeg, "general")
        prompt = processor.apply_chat_template(_messages(request), add_generation_prompt=True)
        image = [Image.open(io.BytesIO(jpeg)).convert("RGB")]
        prompt_lengths.append(processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"].shape[1])
        texts.append(prompt + json.dumps(reply) + "<end_of_utterance>")
        images.append(image)
    processor.tokenizer.padding_side = "right"
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for row, length in enumerate(prompt_lengths):
        labels[row, :length] = -100  # learn the answers only
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest without thread hand-offs
    try:
        model.train()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(max_steps):
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            if loss.item() < 0.003:
                break
    finally:
        torch.set_num_threads(threads)
        model.eval()
    return float(loss.item())


@pytest.fixture(scope="module")
def tiny_vlms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_vlm")
    corpus = [caption_prompt(c) for c in CATEGORIES] + [json.dumps(a) for a in ANSWERS.values()] + [repair_prompt("x")]
    model, processor = build_random_vlm(TINY, corpus, seed=3)
    untrained = save(model, processor, folder / "random")
    loss = _train_to_answer(model, processor, ANSWERS)
    assert loss < 0.003, f"the tiny VLM did not learn its answers (loss {loss:.4f})"
    trained = save(model, processor, folder / "trained")
    return {"random": untrained, "trained": trained}


def test_a_checkpoint_folder_loads_and_answers_from_the_image(tiny_vlms):
    config = CaptionerConfig(spec=f"local-dir:{tiny_vlms['trained']}", batch_scenes=4)
    assert preflight_captioner(config).location.source == "local-dir"
    results = load_captioner(config).caption([(RED, "general"), (BLUE, "general"), (RED, "general")])
    assert [r.caption.model_dump() for r in results] == [ANSWERS[RED], ANSWERS[BLUE], ANSWERS[RED]]
    assert all(r.category == "general" and r.error is None for r in results)


def test_answers_that_never_parse_fail_each_scene_after_one_retry(tiny_vlms):
    config = CaptionerConfig(spec=str(tiny_vlms["random"]), max_new_tokens=24)
    results = load_captioner(config).caption([(RED, "general"), (BLUE, "document")])
    assert [r.caption for r in results] == [None, None]
    assert all("malformed answer, twice" in r.error for r in results)
    assert [r.category for r in results] == ["general", "document"]


def _asset(scene_jpegs: list[bytes]) -> AnalyzedAsset:
    scenes = [Scene(index=i, start_s=2.0 * i, end_s=2.0 * i + 2, start_frame=50 * i, end_frame=50 * i + 49,
                    keyframes=[Keyframe(time_s=2.0 * i + 1, frame=50 * i + 25, jpeg=jpeg, width=64, height=48)])
              for i, jpeg in enumerate(scene_jpegs)]
    media = MediaAsset(asset_id="11111111-1111-5111-8111-111111111111", uri="/m/cards.mp4",
                       media_type=MediaType.VIDEO, size_bytes=1)
    return AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=scenes)


def test_the_handler_captions_scenes_in_a_beam_pipeline(tiny_vlms):
    config = CaptionerConfig(spec=str(tiny_vlms["trained"]), batch_scenes=2)
    stage = EnrichAssets(CaptionHandler(config), lambda a: scene_images(a, "general"),
                         lambda a, results: attach_captions(a, results, config.spec, "general"),
                         FailureStage.CAPTION)

    def check(keyed_assets):
        [(key, asset)] = keyed_assets
        assert key == "cards"
        enrichment = [s.enrichment for s in asset.scenes]
        assert [e.description for e in enrichment] == [ANSWERS[j]["description"] for j in (RED, BLUE, BLUE)]
        assert enrichment[2].tags == ["blue", "sky", "sea"] and enrichment[0].content_category == "general"
        assert asset.models["captioner"] == config.spec and not asset.probe.warnings

    with beam.Pipeline(runner="FnApiRunner") as p:
        captioned, failures = p | beam.Create([("cards", _asset([RED, BLUE, BLUE]))]) | stage
        assert_that(captioned, check)
        assert_that(failures, lambda f: len(f) == 0 or pytest.fail(f"failures: {f}"), label="NoFailures")


def test_a_hub_model_offline_fails_fast_naming_it_and_the_remedies():
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        preflight_captioner(CaptionerConfig(spec="HuggingFaceTB/SmolVLM-256M-Instruct"), offline=True)
    assert time.monotonic() - started < 10
    message = str(info.value)
    for part in ("HuggingFaceTB/SmolVLM-256M-Instruct", "local-dir:DIR", "openai:MODEL", "--captioner none"):
        assert part in message


def test_a_folder_that_is_not_a_vision_language_model_is_refused(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    with pytest.raises(ModelUnavailableError, match="not a vision-language model"):
        preflight_captioner(CaptionerConfig(spec=str(tmp_path)))
    with pytest.raises(ModelUnavailableError, match="no folder"):
        preflight_captioner(CaptionerConfig(spec=str(tmp_path / "missing")))
