"""Images end to end: `sceneline index` of a folder of photos against a plain open_clip loop.

    python -m sceneline.benchmarks.images [--images 400] [--batch 64] [--repeats 1]
    python -m sceneline.benchmarks.images --quick          # 16 images (CI smoke test)

Both sides run as child processes over the same photos from ../shared/media/images (JPEG, PNG
and WebP, linked into a temporary folder), with the same model and 2 torch threads, and both
include starting Python and building the model. The peer is the loop anyone would write: open
each file with PIL, open_clip's preprocess, forward in batches of 64, no store. sceneline runs the
real console script on the embedded default with visual vectors only (no OCR, captions, text
vectors or speech), so it also sniffs and probes every file, makes thumbnails and writes the
index. Figures are wall seconds and CPU seconds (user + system of the child and its children):
on a shared machine CPU seconds are the comparable figure. A ratio above 1.0 means sceneline did
the whole job for less than the bare loop. The visual model is ViT-B-32 with random weights (no
CLIP weights can be downloaded here; the cost is the same).
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from sceneline.benchmarks.common import Report, benchmark_parser, run_measured, sceneline_exe

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
ARCHITECTURE = "ViT-B-32"
THREADS = 2


def photos(media: Path, n: int) -> list[Path]:
    found = sorted(p for p in (media / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(found) < n:
        raise SystemExit(f"only {len(found)} images under {media / 'images'}; asked for {n}")
    return found[:n]


def link_into(folder: Path, files: list[Path]) -> None:
    folder.mkdir(parents=True)
    for i, path in enumerate(files):
        (folder / f"{i:05d}{path.suffix.lower()}").symlink_to(path.resolve())


def plain_loop(folder: Path, batch: int) -> int:
    """The peer, run in its own process (`--plain-loop`): what a user would write by hand."""
    import open_clip
    import torch
    from PIL import Image

    torch.set_num_threads(THREADS)
    model, _, preprocess = open_clip.create_model_and_transforms(ARCHITECTURE, pretrained=None)
    model.eval()
    files = sorted(folder.iterdir())
    done = 0
    with torch.no_grad():
        for start in range(0, len(files), batch):
            pixels = torch.stack([preprocess(Image.open(f).convert("RGB")) for f in files[start:start + batch]])
            done += len(model.encode_image(pixels))
    return done


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_child(command: list[str], cwd: Path) -> dict:
    cpu_before = _children_cpu_s()
    measured = run_measured(command, cwd=cwd)
    if measured.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} ... failed ({measured.returncode}):\n{measured.stderr[-3000:]}")
    return {"wall_s": measured.seconds, "cpu_s": _children_cpu_s() - cpu_before, "peak_rss_mib": measured.peak_rss_mib,
            "stdout": measured.stdout}


def measure(media: Path, n: int, batch: int, repeats: int) -> dict:
    """Both sides `repeats` times, interleaved (peer, sceneline, peer, ...), so that a neighbour's
    burst on a shared machine lands on both; each side's figures are its run with the fewest CPU
    seconds (the least disturbed), and every run is kept."""
    work = Path(tempfile.mkdtemp(prefix="sceneline-images-"))
    peers, ours, summaries = [], [], []
    try:
        folder = work / "photos"
        link_into(folder, photos(media, n))
        for attempt in range(repeats):
            peer = timed_child([sys.executable, "-m", "sceneline.benchmarks.images", "--plain-loop", str(folder),
                                "--batch", str(batch)], work)
            peer.pop("stdout")
            peers.append(peer)
            store = work / f"run{attempt}"
            store.mkdir()
            run = timed_child([sceneline_exe(), "index", str(folder), "--json", "--offline",
                               "--visual-model", f"{ARCHITECTURE}:random", "--captioner", "none", "--no-ocr",
                               "--text-model", "none", "--transcriber", "none"], store)
            summaries.append(json.loads(run.pop("stdout")))
            ours.append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peer, best = min(peers, key=lambda r: r["cpu_s"]), min(range(repeats), key=lambda i: ours[i]["cpu_s"])
    sceneline, summary = ours[best], summaries[best]
    indexed = summary["counts"].get("indexed", 0)
    return {"images": n, "repeats": repeats, "indexed": indexed, "failed": summary["counts"].get("failed", 0),
            "plain_loop": peer, "sceneline": sceneline, "runs": {"plain_loop": peers, "sceneline": ours},
            "stage_seconds": summary.get("stage_seconds", {}),
            "wall_ratio": peer["wall_s"] / sceneline["wall_s"], "cpu_ratio": peer["cpu_s"] / sceneline["cpu_s"]}


def run(media: Path, n: int, batch: int, repeats: int) -> Report:
    r = measure(media, n, batch, repeats)
    report = Report(name="images", title="Images end to end: sceneline index against a plain open_clip loop",
                    intro=__doc__.split("\n\n", 2)[2])
    report.figures.update(r)
    rows = []
    for name, side in (("plain open_clip loop (peer)", r["plain_loop"]), ("sceneline index", r["sceneline"])):
        rows.append([name, side["wall_s"], side["cpu_s"], n / side["wall_s"], n / side["cpu_s"], side["peak_rss_mib"]])
    report.table(["run", "wall s", "CPU s", "images / s", "images / CPU-s", "peak RSS (MiB)"], rows,
                 caption=f"Each side's least disturbed of {repeats} interleaved runs" if repeats > 1 else None)
    report.table(["ratio (peer / sceneline; target >= 0.9, moonshot > 1.0)", "value"],
                 [["wall time", r["wall_ratio"]], ["CPU time", r["cpu_ratio"]]])
    if repeats > 1:
        report.table(["run", "peer wall s", "peer CPU s", "sceneline wall s", "sceneline CPU s", "CPU ratio"],
                     [[i + 1, p["wall_s"], p["cpu_s"], o["wall_s"], o["cpu_s"], p["cpu_s"] / o["cpu_s"]]
                      for i, (p, o) in enumerate(zip(r["runs"]["plain_loop"], r["runs"]["sceneline"]))],
                     caption="Every run, in the order they ran (peer, then sceneline)")
    if r["stage_seconds"]:
        report.table(["sceneline stage", "seconds"], sorted(r["stage_seconds"].items(), key=lambda kv: -kv[1]),
                     caption="Where sceneline's time goes (Beam metrics)")
    report.notes.append(f"{r['indexed']} of {n} images indexed, {r['failed']} failed.")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs of each side (the least disturbed counts)")
    parser.add_argument("--plain-loop", type=Path, help="(internal) run the peer over this folder")
    args = parser.parse_args(argv)
    if args.plain_loop:
        print(plain_loop(args.plain_loop, args.batch))
        return
    report = run(args.media, 16 if args.quick else args.images, args.batch, 1 if args.quick else args.repeats)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
