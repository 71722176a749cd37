"""End to end: `sceneline index` on the embedded default (FnApiRunner, local Qdrant folder).

    python -m sceneline.benchmarks.end_to_end                       # ../shared/media/videos
    python -m sceneline.benchmarks.end_to_end PATH... [--model SPEC] [-- extra index flags]
    python -m sceneline.benchmarks.end_to_end --quick               # three short clips (CI smoke test)

Runs the real console script in a child process with a fresh store, and reports: assets and
scenes, realtime factor (seconds of video per wall second), decoded frames per second per core,
assets per hour, peak resident memory of the whole process tree, and the time by stage (Beam
metrics the pipeline records). The visual model is the real ViT-B-32 architecture with random
weights (no CLIP weights can be downloaded here; the cost is the same).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from sceneline.benchmarks.common import Report, benchmark_parser, run_measured, sceneline_exe

QUICK_FILES = ["videos/psd_testvideo.mp4", "videos/moviepy_chaplin.mp4", "images/misc/imageio_chelsea.png"]


def measure(paths: list[str], model: str, extra: list[str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sceneline-e2e-"))
    try:
        command = [sceneline_exe(), "index", *[str(Path(p).resolve()) for p in paths], "--json",
                   "--visual-model", model, "--captioner", "none", "--offline", *extra]
        measured = run_measured(command, cwd=work)
        if measured.returncode != 0:
            raise SystemExit(f"sceneline index failed ({measured.returncode}):\n{measured.stderr[-3000:]}")
        summary = json.loads(measured.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    indexed = [a for a in summary["assets"] if a["status"] == "indexed"]
    video_s = sum(a.get("duration_s") or 0 for a in indexed if a["media_type"] == "video")
    frames = summary.get("counters", {}).get("frames_decoded", 0)
    pipeline_s = summary["elapsed_s"]
    cores = os.cpu_count() or 1
    return {
        "inputs": len(summary["assets"]), "counts": summary["counts"], "scenes": summary["scenes"],
        "videos_indexed": sum(a["media_type"] == "video" for a in indexed),
        "images_indexed": sum(a["media_type"] == "image" for a in indexed),
        "video_seconds": video_s, "frames_decoded": frames,
        "pipeline_s": pipeline_s, "process_wall_s": measured.seconds, "peak_rss_mib": measured.peak_rss_mib,
        "realtime_factor": video_s / pipeline_s if pipeline_s else 0.0,
        "frames_per_s_per_core": frames / pipeline_s / cores if pipeline_s else 0.0,
        "assets_per_hour": len(indexed) / pipeline_s * 3600 if pipeline_s else 0.0,
        "stage_seconds": summary.get("stage_seconds", {}),
        "failed": [(Path(a["uri"]).name, a["error"]) for a in summary["assets"] if a["status"] == "failed"],
    }


def run(paths: list[str], model: str, extra: list[str]) -> Report:
    r = measure(paths, model, extra)
    report = Report(name="end_to_end", title="End to end: sceneline index on the embedded default",
                    intro=__doc__.split("\n\n", 2)[2])
    report.figures.update(r)
    report.table(["figure", "value"], [
        ["inputs (indexed / failed / skipped)",
         f"{r['inputs']} ({r['counts']['indexed']} / {r['counts']['failed']} / {r['counts']['skipped']})"],
        ["videos / images indexed", f"{r['videos_indexed']} / {r['images_indexed']}"],
        ["scenes", r["scenes"]],
        ["video indexed (s)", r["video_seconds"]],
        ["frames decoded", r["frames_decoded"]],
        ["pipeline time (s)", r["pipeline_s"]],
        ["process wall time incl. start-up and model load (s)", r["process_wall_s"]],
        ["realtime factor (video s per wall s)", r["realtime_factor"]],
        ["decoded frames / s / core", r["frames_per_s_per_core"]],
        ["assets / hour", r["assets_per_hour"]],
        ["peak RSS, whole process tree (MiB)", r["peak_rss_mib"]],
    ])
    stages = r["stage_seconds"]
    if stages:
        total = sum(stages.values())
        report.table(["stage", "seconds", "share"],
                     [[k, v, f"{100 * v / total:.0f}%"] for k, v in sorted(stages.items(), key=lambda kv: -kv[1])],
                     caption="Where the time goes (sum over elements; one worker, so it adds up to about the run)")

        def draw(ax) -> None:
            names = sorted(stages, key=lambda k: -stages[k])
            ax.barh(names, [stages[k] for k in names])
            ax.invert_yaxis()
            ax.set_xlabel("seconds")

        report.chart("end_to_end_stages.png", draw, "seconds by stage")
    if r["failed"]:
        report.table(["failed input", "reason"], r["failed"], caption="Inputs that failed (with their reasons)")
    report.notes.append(f"Visual model {model}: random weights, speed only.")
    return report


def index_benchmark_args(doc: str | None, argv: list[str] | None, parser=None):
    """Parse what a benchmark of `sceneline index` takes: paths (default: the shared videos, or
    three short clips with --quick), --model, and further index flags. Returns (args, paths, extra)."""
    parser = parser or benchmark_parser(doc)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--model", default="ViT-B-32:random")
    args, extra = parser.parse_known_args(argv)
    paths = args.paths or ([str(args.media / f) for f in QUICK_FILES] if args.quick else [str(args.media / "videos")])
    return args, paths, extra


def main(argv: list[str] | None = None) -> None:
    args, paths, extra = index_benchmark_args(__doc__, argv)
    report = run(paths, args.model, extra)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
