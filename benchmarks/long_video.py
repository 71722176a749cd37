"""Memory on long videos: peak RSS of `sceneline index` must not grow with video length.

    python -m sceneline.benchmarks.long_video                    # 5, 15, 30, 60 and 120 minutes
    python -m sceneline.benchmarks.long_video --minutes 10 60    # chosen lengths
    python -m sceneline.benchmarks.long_video --quick            # 1 and 2 minutes (CI smoke test)

The long files are made from real footage in ../shared/media: a 5-minute base is encoded once
from shots of several real videos (640x360, 25 fps, H.264), and longer files repeat its packets
with shifted timestamps (stream copy: no re-encoding, so a 2-hour file takes seconds to make).
They are cached in ~/.cache/sceneline/bench. Target: peak RSS flat in length, <= 2 GiB for 2 h.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from sceneline.benchmarks.common import Report, benchmark_parser, run_measured, sceneline_exe

CACHE = Path.home() / ".cache" / "sceneline" / "bench"
SOURCES = ["videos/psd_testvideo.mp4", "videos/moviepy_big_buck_bunny_0_30.webm", "videos/opencv_vtest.avi",
           "videos/moviepy_chaplin.mp4", "videos/mmaction2_test_video_structuralize.mp4",
           "videos/openboard_wannaworktogether.mp4", "videos/pd_diver.mov", "videos/fillets_intro.mpg"]
SIZE, FPS = (640, 360), 25
TARGET_MIB_2H = 2048


def base_clip(media: Path, minutes: float) -> Path:
    """Encode `minutes` of real footage (cycling through SOURCES, 10 s shots) once."""
    path = CACHE / f"base_{minutes:g}min.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    total = int(minutes * 60 * FPS)
    written = 0
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26", "g": "250"}
        while written < total:
            for name in SOURCES:
                with av.open(str(media / name)) as src:
                    shot = 0
                    for frame in src.decode(video=0):
                        if written >= total:
                            break
                        img = frame.reformat(width=SIZE[0], height=SIZE[1], format="yuv420p")
                        img.pts, img.time_base = written, Fraction(1, FPS)  # constant output rate
                        for packet in stream.encode(img):
                            out.mux(packet)
                        written += 1
                        shot += 1
                        if shot >= 10 * FPS:
                            break
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(path)
    return path


def repeated(base: Path, minutes: float) -> Path:
    """A long file: the base's packets repeated with shifted timestamps (stream copy)."""
    path = CACHE / f"long_{minutes:g}min.mp4"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(base)) as src:
        in_stream = src.streams.video[0]
        packets = [p for p in src.demux(in_stream) if p.dts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
    target = minutes * 60 / float(in_stream.time_base)
    with av.open(str(base)) as src, av.open(str(tmp), "w") as out:
        in_stream = src.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        offset = 0
        while offset < target:
            src.seek(0)
            for packet in src.demux(in_stream):
                if packet.dts is None:
                    continue
                packet.pts += offset
                packet.dts += offset
                packet.stream = out_stream
                out.mux(packet)
            offset += span
    tmp.rename(path)
    return path


def run(minutes: list[float], media: Path, model: str) -> Report:
    base = base_clip(media, min(5.0, min(minutes)))
    rows = []
    for m in minutes:
        video = repeated(base, m)
        measured = run_measured([sceneline_exe(), "index", str(video), "--json", "--visual-model", model,
                                 "--captioner", "none", "--offline", "--qdrant-path", ":memory:"], cwd=CACHE)
        if measured.returncode != 0:
            raise SystemExit(f"sceneline index failed on {video.name}:\n{measured.stderr[-3000:]}")
        rows.append({"minutes": m, "peak_rss_mib": measured.peak_rss_mib, "wall_s": measured.seconds})
        print(f"{m:6g} min: peak RSS {measured.peak_rss_mib:7.0f} MiB, {measured.seconds:6.1f} s", flush=True)
    report = Report(name="long_video", title="Memory on long videos", intro=__doc__.split("\n\n", 2)[2])
    growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
    report.figures.update({"rows": rows, "growth_mib": growth})
    report.table(["video length (min)", "peak RSS (MiB)", "wall time (s)"],
                 [[r["minutes"], r["peak_rss_mib"], r["wall_s"]] for r in rows])
    two_hours = [r for r in rows if r["minutes"] >= 120]
    verdict = (f"2 h peak {two_hours[0]['peak_rss_mib']:.0f} MiB (target <= {TARGET_MIB_2H})" if two_hours
               else "no 2 h run in this report")
    report.text(f"Growth from {rows[0]['minutes']:g} to {rows[-1]['minutes']:g} minutes: {growth:+.0f} MiB; "
                f"{verdict}.")

    def draw(ax) -> None:
        ax.plot([r["minutes"] for r in rows], [r["peak_rss_mib"] for r in rows], marker="o", label="peak RSS")
        ax.axhline(TARGET_MIB_2H, color="grey", linestyle="--", label="2 GiB")
        ax.set_xlabel("video length (minutes)")
        ax.set_ylabel("peak RSS (MiB)")
        ax.set_ylim(bottom=0)
        ax.legend()

    report.chart("long_video_memory.png", draw, "peak memory by video length")
    report.notes.append(f"Visual model {model} (random weights: the memory and time are the model's; no "
                        "quality figures). The store is in memory so only the pipeline's own memory is measured "
                        "(`--qdrant-path :memory:`).")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 15, 30, 60, 120])
    parser.add_argument("--model", default="ViT-B-32:random")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes = [1, 2]
    report = run(sorted(args.minutes), args.media, args.model)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
