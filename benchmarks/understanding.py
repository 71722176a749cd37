"""Seconds per scene for scene understanding on this machine: OCR, text embedding, captioner.

    python -m sceneline.benchmarks.understanding [--media ../shared/media] [--out benchmarks/reports]

- OCR (RapidOCR, real weights): every keyframe of every scene of gt_hardcuts.mp4 (real footage,
  16 shots), as the pipeline reads them; then the same keyframes with a caption burned in.
- Text embedding (all-MiniLM-L6-v2, real weights): each scene's text (a description, tags and
  a line of visible text), in the pipeline's batches and one at a time (a query).
- Captioner: the default captioner's architecture (SmolVLM-256M: SigLIP-B/16 at 512 px and
  SmolLM2-135M) with RANDOM weights, since no VLM weights can be downloaded here. Cost does not
  depend on the weights, but answer length does: random weights never stop on their own, so
  every answer is made exactly --answer-tokens long (a description and tags in JSON take about
  60-100 tokens). The checkpoint is saved and loaded through the captioner's own loading path.

Writes understanding.json and understanding.md to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sceneline.transforms.media.analyze import AnalysisConfig, analyze_asset
from sceneline.benchmarks.speech import SENTENCES
from sceneline.schemas import MediaAsset, MediaType

CAPTION = "SUMMER SALE 50% OFF"


def _timed(fn, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def real_scenes(media: Path):
    video = media / "groundtruth" / "gt_hardcuts.mp4"
    asset = MediaAsset(asset_id="00000000-0000-5000-8000-000000000000", uri=str(video),
                       media_type=MediaType.VIDEO, size_bytes=video.stat().st_size)
    return analyze_asset(asset, AnalysisConfig()).scenes


def with_caption(jpeg: bytes) -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageFont

    from sceneline.transforms.media.keyframes import encode_jpeg

    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(16, img.height // 12))
    x, y = img.width // 10, img.height * 3 // 4
    box = draw.textbbox((x, y), CAPTION, font=font)
    draw.rectangle((box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6), fill=(0, 0, 0))
    draw.text((x, y), CAPTION, font=font, fill=(255, 255, 255))
    return encode_jpeg(np.asarray(img))


def bench_ocr(scenes) -> dict:
    from sceneline.transforms.models.ocr import OcrConfig, OcrEngine

    engine, load_s = _timed(OcrEngine, OcrConfig())
    engine.read(scenes[0].keyframes[0].jpeg)  # warm-up
    figures = {"load_s": round(load_s, 2), "scenes": len(scenes),
               "keyframes": sum(len(s.keyframes) for s in scenes)}
    for label, prepare in (("as_is", lambda j: j), ("caption_burned_in", with_caption)):
        per_scene, lines = [], 0
        for scene in scenes:
            images = [prepare(kf.jpeg) for kf in scene.keyframes]
            found, seconds = _timed(lambda: [engine.read(j) for j in images])
            per_scene.append(seconds)
            lines += sum(len(f) for f in found)
        figures[label] = {"s_per_scene_mean": round(statistics.mean(per_scene), 3),
                          "s_per_scene_median": round(statistics.median(per_scene), 3),
                          "s_per_keyframe": round(sum(per_scene) / figures["keyframes"], 3),
                          "text_lines_found": lines}
    return figures


def bench_text(n: int = 256) -> dict:
    from sceneline.transforms.models.text_model import DEFAULT_TEXT_MODEL, load_text_encoder

    encoder, load_s = _timed(load_text_encoder, DEFAULT_TEXT_MODEL)
    rng = np.random.default_rng(0)
    words = "harbor market street night boat car sign city people dog beach sunset kitchen table".split()
    texts = [f"{' '.join(rng.choice(words, 18))}.\n{', '.join(rng.choice(words, 6))}\n{CAPTION}" for _ in range(n)]
    encoder.embed(texts[:8])  # warm-up
    _, batched_s = _timed(encoder.embed, texts, batch_size=64)
    singles = [_timed(encoder.embed, [t])[1] for t in texts[:32]]
    return {"model": DEFAULT_TEXT_MODEL, "load_s": round(load_s, 2), "scenes": n,
            "s_per_scene_batched_64": round(batched_s / n, 4), "s_per_text_one_at_a_time": round(statistics.median(singles), 4)}


def bench_transcriber(sentences: int) -> dict:
    """Seconds of work per minute of audio for the default transcriber, on espeak-ng speech with
    pauses (the speech benchmark, benchmarks/speech.py, has its accuracy)."""
    import shutil

    if shutil.which("espeak-ng") is None:
        return {"skipped": "espeak-ng is not installed"}
    from sceneline.benchmarks.speech import SENTENCES, make_speech_video
    from sceneline.transforms.models.transcriber import DEFAULT_TRANSCRIBER, TranscriberConfig, load_whisper, transcribe

    model, load_s = _timed(load_whisper, DEFAULT_TRANSCRIBER)
    with tempfile.TemporaryDirectory() as tmp:
        video, _spans, _seconds = make_speech_video(Path(tmp), SENTENCES[:sentences])
        transcribe(model, str(video), TranscriberConfig())  # warm-up (loads the VAD model too)
        result = transcribe(model, str(video), TranscriberConfig())
    return {"model": DEFAULT_TRANSCRIBER, "load_s": round(load_s, 2), "audio_s": round(result.audio_s, 2),
            "s_per_audio_minute": round(60 * result.elapsed_s / result.audio_s, 2)}


def bench_captioner(scenes, answer_tokens: int, batches: list[int], threads: int | None) -> dict:
    import torch

    from sceneline.benchmarks.random_vlm import SMOLVLM_256M, build_random_vlm, save
    from sceneline.transforms.models.caption import load_captioner
    from sceneline.transforms.models.caption_prompt import CATEGORIES, CaptionRequest, caption_prompt
    from sceneline.transforms.models.caption_spec import DEFAULT_CAPTIONER, CaptionerConfig

    corpus = [caption_prompt(c) for c in CATEGORIES]
    model, processor = build_random_vlm(SMOLVLM_256M, corpus, seed=0)
    params = sum(p.numel() for p in model.parameters())
    model.generation_config.min_new_tokens = answer_tokens  # random weights never stop early
    with tempfile.TemporaryDirectory(prefix="sceneline-vlm-") as folder:
        save(model, processor, Path(folder))
        del model
        figures: dict = {"architecture": f"{DEFAULT_CAPTIONER} (Idefics3), RANDOM weights",
                         "parameters_m": round(params / 1e6, 1), "answer_tokens": answer_tokens,
                         "torch_threads": threads or torch.get_num_threads()}
        requests = [CaptionRequest.first(s.thumbnail_keyframe().jpeg, "general") for s in scenes]
        prompt = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": caption_prompt("general")}]}],
            add_generation_prompt=True)
        figures["prompt_tokens"] = int(processor(text=[prompt], images=[[_first_image(requests[0])]],
                                                 return_tensors="pt")["input_ids"].shape[1])
        for batch in batches:
            config = CaptionerConfig(spec=folder, max_new_tokens=answer_tokens, batch_scenes=batch,
                                     num_threads=threads)
            captioner, load_s = _timed(load_captioner, config)
            captioner.backend.answer(requests[:1])  # warm-up
            seconds = sum(_timed(captioner.backend.answer, requests[i:i + batch])[1]
                          for i in range(0, len(requests), batch))
            figures[f"batch_{batch}"] = {"load_s": round(load_s, 2), "scenes": len(requests),
                                         "s_per_scene": round(seconds / len(requests), 2)}
            del captioner
    return figures


def _first_image(request):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(request.image)).convert("RGB")


def report(figures: dict, command: str) -> str:
    ocr, text, cap = figures["ocr"], figures["text_embedding"], figures["captioner"]
    speech = figures.get("transcriber") or {}
    transcriber_row = (f"| transcriber, seconds per audio minute | {speech['s_per_audio_minute']} | "
                       f"{speech['model']} (real weights), espeak-ng speech with pauses, {speech['audio_s']} s; "
                       "accuracy in speech.md |" if "s_per_audio_minute" in speech else
                       f"| transcriber | - | {speech.get('skipped', 'not measured')} |")
    batch_rows = "\n".join(f"| captioner, batch of {k.split('_')[1]} scene(s) | {v['s_per_scene']} | "
                           f"{cap['answer_tokens']}-token answers, {cap['prompt_tokens']}-token prompt |"
                           for k, v in cap.items() if k.startswith("batch_"))
    return f"""# Scene understanding: seconds per scene

Measured on {figures['machine']} with `{command}` ({figures['date']}). The 1-minute load average
was {figures['load_average']['start']} at the start and {figures['load_average']['end']} at the end: on two cores, anything
above 2 means other work was competing, and the figures are upper bounds (several times a quiet
machine's when the load is high). Re-run on a quiet machine for figures to quote.

| stage | seconds per scene | notes |
|---|---|---|
| OCR, real footage (gt_hardcuts.mp4, {ocr['scenes']} scenes, {ocr['keyframes']} keyframes) | {ocr['as_is']['s_per_scene_mean']} (median {ocr['as_is']['s_per_scene_median']}) | {ocr['as_is']['s_per_keyframe']} s a keyframe; {ocr['as_is']['text_lines_found']} lines found (one shot has a copyright notice) |
| OCR, same keyframes with a caption burned in | {ocr['caption_burned_in']['s_per_scene_mean']} (median {ocr['caption_burned_in']['s_per_scene_median']}) | {ocr['caption_burned_in']['s_per_keyframe']} s a keyframe; {ocr['caption_burned_in']['text_lines_found']} lines found |
| text embedding, batches of 64 | {text['s_per_scene_batched_64']} | all-MiniLM-L6-v2 (real weights), ~30-word scene texts |
| text embedding, one text (a query) | {text['s_per_text_one_at_a_time']} | |
{transcriber_row}
{batch_rows}

- **OCR** is RapidOCR (PP-OCRv4 detector and recogniser, real weights) on every keyframe of each
  scene at keyframe size (640x360). A keyframe without text costs the detector only; recognition
  runs per detected line. Model load: {ocr['load_s']} s.
- **Text embedding** load: {text['load_s']} s (most of it importing sentence-transformers).
- **Captioner** timings use the default captioner's architecture, SmolVLM-256M
  ({cap['parameters_m']} M parameters), with **random weights** (no VLM weights can be downloaded
  here), loaded through the captioner's own checkpoint path, one 512-px view per keyframe, float32
  on CPU, {cap['torch_threads']} torch threads. Random weights never end an answer, so every answer
  was made exactly {cap['answer_tokens']} tokens long; a real model stops after its JSON (about
  60-100 tokens), and an answer that has to be asked again (malformed) costs twice. The prompt's
  token count comes from a tokenizer trained here (about one token a word); SmolVLM's own is close.

Raw figures: `understanding.json`.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", default="../shared/media")
    parser.add_argument("--out", default="benchmarks/reports")
    parser.add_argument("--answer-tokens", type=int, default=96)
    parser.add_argument("--caption-batches", default="1,8")
    parser.add_argument("--caption-scenes", type=int, default=8, help="Scenes to caption per batch size.")
    parser.add_argument("--torch-threads", type=int, default=0, help="Torch threads for the captioner (0: torch's).")
    parser.add_argument("--quick", action="store_true",
                        help="A tiny version (the suite's smoke test): 2 scenes, short answers, batch 1.")
    args = parser.parse_args(argv)
    if args.quick:
        args.answer_tokens, args.caption_batches, args.caption_scenes = 8, "1", 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    scenes = real_scenes(Path(args.media))[:2 if args.quick else None]
    load_before = os.getloadavg()[0]
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "ocr": bench_ocr(scenes),
        "text_embedding": bench_text(16 if args.quick else 256),
        "transcriber": bench_transcriber(2 if args.quick else len(SENTENCES)),
        "captioner": bench_captioner(scenes[:args.caption_scenes], args.answer_tokens,
                                     [int(b) for b in args.caption_batches.split(",")], args.torch_threads or None),
    }
    # Other work on the machine inflates every figure; the 1-minute load average says how much.
    figures["load_average"] = {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "understanding.json").write_text(json.dumps(figures, indent=2) + "\n")
    command = "python -m sceneline.benchmarks.understanding " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "understanding.md").write_text(report(figures, command.strip()))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
