"""Decoding: sceneline's decoder against a plain `ffmpeg -f null` decode of the same files.

    python -m sceneline.benchmarks.decode                 # the videos in ../shared/media
    python -m sceneline.benchmarks.decode --quick         # two short files, one repeat

Three ways to decode each file, with the same number of threads (2 by default):
`ffmpeg -threads N -i FILE -map 0:v:0 -f null -` (the reference: the decoder with nothing
after it), PyAV decoding every frame and dropping it (the binding's own cost), and sceneline's
`FrameDecoder` as the analysis stage runs it (every frame scaled down inside FFmpeg to the
detector's input, true timestamps from PTS, a small numpy array per frame). Each figure is the
best of `--repeats` runs: the fastest run is the least disturbed one on a shared machine.
ffmpeg's process start-up is measured on a one-frame input and subtracted, so short files are
not unfairly slow for it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

import av

from sceneline.benchmarks.common import Report, benchmark_parser, ffmpeg_exe, median
from sceneline.transforms.media.decode import FrameDecoder
from sceneline.transforms.media.detection import DEFAULT_DETECTOR, create_detector

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv", ".mpg", ".mpeg", ".ogv", ".ts", ".flv", ".wmv"}


def videos_in(media: Path, quick: bool) -> list[Path]:
    found = sorted(p for p in (media / "videos").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    found += sorted((media / "groundtruth").glob("*.mp4"))
    if quick:  # the two smallest, so the smoke test stays short
        found = sorted(found, key=lambda p: p.stat().st_size)[:2]
    return found


def best_seconds(repeats: int, run: Callable[[], int]) -> tuple[float, int]:
    """(fastest wall seconds, frames) over `repeats` runs of `run`, which returns its frame count."""
    best, frames = float("inf"), 0
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        frames = run()
        best = min(best, time.perf_counter() - started)
    return best, frames


def ffmpeg_null_s(exe: str, path: Path, threads: int) -> float:
    """Wall seconds of `ffmpeg -f null` decoding the first video stream of `path`."""
    started = time.perf_counter()
    subprocess.run([exe, "-v", "error", "-nostdin", "-threads", str(threads), "-i", str(path),
                    "-map", "0:v:0", "-f", "null", "-"], check=True)
    return time.perf_counter() - started


def ffmpeg_startup_s(exe: str) -> float:
    """What starting ffmpeg costs (best of 5): decoding one tiny generated frame."""
    def once() -> float:
        started = time.perf_counter()
        subprocess.run([exe, "-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=size=16x16:duration=0.04",
                        "-f", "null", "-"], check=True)
        return time.perf_counter() - started
    return min(once() for _ in range(5))


def ffmpeg_version(exe: str) -> str:
    first = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return first.split(" Copyright")[0]


def pyav_decode(path: Path, threads: int) -> int:
    """Decode every frame with PyAV and drop it; the frame count."""
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        for _ in container.decode(stream):
            frames += 1
    return frames


def sceneline_decode(path: Path, threads: int) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        detector = create_detector(DEFAULT_DETECTOR, fps)  # only its input size and format are used
        decoder = FrameDecoder(container, stream, small_size=detector.input_size,
                               small_format=detector.input_format, threads=threads)
        for _ in decoder:
            pass
        return decoder.stats.frames


def measure_file(path: Path, exe: str, startup_s: float, threads: int, repeats: int) -> dict:
    pyav_s, frames = best_seconds(repeats, lambda: pyav_decode(path, threads))
    ours_s, ours_frames = best_seconds(repeats, lambda: sceneline_decode(path, threads))
    ffmpeg_s = max(min(ffmpeg_null_s(exe, path, threads) for _ in range(max(1, repeats))) - startup_s, 1e-3)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, size = stream.codec_context.name, f"{stream.codec_context.width}x{stream.codec_context.height}"
    return {"file": path.name, "codec": codec, "size": size, "frames": frames, "sceneline_frames": ours_frames,
            "ffmpeg_fps": frames / ffmpeg_s, "pyav_fps": frames / pyav_s, "sceneline_fps": ours_frames / ours_s,
            "sceneline_vs_ffmpeg": (ours_frames / ours_s) / (frames / ffmpeg_s)}


def run(files: list[Path], threads: int, repeats: int) -> Report:
    exe = ffmpeg_exe()
    startup_s = ffmpeg_startup_s(exe)
    rows = []
    for path in files:
        rows.append(measure_file(path, exe, startup_s, threads, repeats))
        r = rows[-1]
        print(f"{r['file']}: ffmpeg {r['ffmpeg_fps']:.0f} fps, PyAV {r['pyav_fps']:.0f}, "
              f"sceneline {r['sceneline_fps']:.0f} ({r['sceneline_vs_ffmpeg']:.2f}x)", flush=True)
    report = Report(name="decode", title="Decoding: sceneline's decoder vs ffmpeg -f null",
                    intro=__doc__.split("\n\n", 2)[2])
    version = ffmpeg_version(exe)
    report.figures.update({
        "threads": threads, "repeats": repeats, "ffmpeg": version, "ffmpeg_startup_ms": 1000 * startup_s,
        "pyav_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))), "files": rows,
        "median_sceneline_vs_ffmpeg": median([r["sceneline_vs_ffmpeg"] for r in rows]),
    })
    report.table(
        ["file", "codec", "size", "frames", "ffmpeg -f null fps", "PyAV decode fps", "sceneline decoder fps",
         "sceneline / ffmpeg"],
        [[r["file"], r["codec"], r["size"], r["frames"], r["ffmpeg_fps"], r["pyav_fps"], r["sceneline_fps"],
          f"{r['sceneline_vs_ffmpeg']:.2f}x"] for r in rows])
    report.notes.append(
        f"Median sceneline / ffmpeg over {len(rows)} files: "
        f"{report.figures['median_sceneline_vs_ffmpeg']:.2f}x. Reference: {version} "
        f"(start-up {1000 * startup_s:.0f} ms subtracted); PyAV links libavcodec "
        f"{report.figures['pyav_libavcodec']}. Files that decode at thousands of frames a second are where "
        "scaling every frame down costs most next to the decode itself.")

    def draw(ax) -> None:
        y = range(len(rows))
        for offset, key, label in ((-0.27, "ffmpeg_fps", "ffmpeg -f null"), (0, "pyav_fps", "PyAV decode"),
                                   (0.27, "sceneline_fps", "sceneline decoder")):
            ax.barh([i + offset for i in y], [r[key] for r in rows], height=0.27, label=label)
        ax.set_yticks(list(y), [r["file"] for r in rows], fontsize=5)
        ax.set_xscale("log")
        ax.set_xlabel(f"frames per second ({threads} threads, log scale)")
        ax.legend(fontsize=7)

    report.chart("decode_fps.png", draw, "decode frames per second per file: ffmpeg, PyAV, sceneline")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--threads", type=int, default=2, help="decoder threads, the same for all three")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    files = videos_in(args.media, args.quick)
    print(run(files, args.threads, 1 if args.quick else args.repeats).write(args.out))


if __name__ == "__main__":
    main()
