"""Stream: time from upload to searchable with `sceneline stream`, on this machine.

    python -m sceneline.benchmarks.stream_latency               # 20 uploads of a short clip
    python -m sceneline.benchmarks.stream_latency --quick       # 2 uploads (CI smoke test)

Starts the Pub/Sub emulator and fake-gcs-server (which sends real bucket notifications), runs the
real `sceneline stream` console script on a fresh local index, uploads the clip once to warm up
(the model loads with the first batch), then uploads it N more times under new names, one after
another, and times each from the start of its upload until its scenes are in the index, polled
from this process through the stream's store service, the way `sceneline search` reaches them. Needs
the test extra (fake-gcs-server) and the Pub/Sub emulator (see README, Streaming).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sceneline.benchmarks import gcp_emulators
from sceneline.benchmarks.common import Report, benchmark_parser, median, percentile
from sceneline.benchmarks.stream_process import StreamProcess

CLIP = "videos/moviepy_chaplin.mp4"  # 640x360 H.264, 9.6 s
POLL_S = 0.02


def _clip_info(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {"file": path.name, "bytes": path.stat().st_size, "width": stream.width, "height": stream.height,
                "duration_s": round(float(container.duration / 1e6), 2) if container.duration else None,
                "codec": stream.codec_context.name}


def _time_one(bucket, stream: StreamProcess, store, clip: Path, name: str) -> dict:
    from sceneline.schemas.ids import asset_id_for_object

    started = time.monotonic()
    blob = bucket.blob(name)
    blob.upload_from_filename(str(clip))
    uploaded = time.monotonic()
    asset_id = asset_id_for_object(bucket.name, name, blob.generation)
    while store.count_scenes(asset_id) == 0:
        if time.monotonic() - started > 600:
            raise TimeoutError(f"{name} not searchable after 600 s:\n{stream.log()[-3000:]}")
        time.sleep(POLL_S)
    searchable = time.monotonic()
    [outcome] = stream.wait_for(lambda o: o["asset_id"] == asset_id and o["kind"] == "indexed")
    return {"name": name, "upload_s": uploaded - started, "searchable_s": searchable - started,
            "scenes": outcome["scene_count"]}


def measure(clip: Path, uploads: int, visual_model: str, extra: list[str]) -> dict:
    from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

    work = Path(tempfile.mkdtemp(prefix="sceneline-stream-bench-"))
    with gcp_emulators.pubsub_emulator(work / "pubsub.log") as pubsub:
        topic = pubsub.create_topic("uploads")
        with gcp_emulators.fake_gcs_server(pubsub, topic, work) as events:
            bucket = events.create_bucket("bench")
            subscription = events.subscribe("bench")
            started = time.monotonic()
            stream = StreamProcess(subscription, cwd=work, env={**events.env(), "SCENELINE_OFFLINE": "1"},
                                   args=["--visual-model", visual_model, "--captioner", "none", *extra])
            try:
                stream.wait_ready()
                ready_s = time.monotonic() - started
                store = SceneStore(StoreConfig(path=str(work / ".sceneline" / "qdrant")))
                warm_up = _time_one(bucket, stream, store, clip, "warmup/clip.mp4")
                timed = [_time_one(bucket, stream, store, clip, f"timed/clip_{i:03d}.mp4") for i in range(uploads)]
            finally:
                close_shared_clients()
                stream.stop()
    searchable = [t["searchable_s"] for t in timed]
    return {
        "clip": _clip_info(clip), "visual_model": visual_model, "uploads": len(timed),
        "stream_ready_s": ready_s, "warm_up_s": warm_up["searchable_s"],
        "median_s": median(searchable), "p95_s": percentile(searchable, 95),
        "min_s": min(searchable), "max_s": max(searchable),
        "upload_median_s": median([t["upload_s"] for t in timed]),
        "per_upload": timed,
    }


def run(clip: Path, uploads: int, visual_model: str, extra: list[str]) -> Report:
    r = measure(clip, uploads, visual_model, extra)
    c = r["clip"]
    report = Report(name="stream", title="Stream: upload to searchable", intro=__doc__.split("\n\n", 2)[2])
    report.figures.update(r)
    report.table(["figure", "seconds"], [
        ["upload to searchable, median", r["median_s"]],
        ["upload to searchable, p95", r["p95_s"]],
        ["upload to searchable, min / max", f"{r['min_s']:.3g} / {r['max_s']:.3g}"],
        ["of which the upload itself (median)", r["upload_median_s"]],
        ["first upload (loads the model)", r["warm_up_s"]],
        ["stream start to ready", r["stream_ready_s"]],
    ], caption=f"{r['uploads']} uploads of {c['file']} ({c['width']}x{c['height']} {c['codec']}, "
               f"{c['duration_s']} s, {r['per_upload'][0]['scenes']} scene(s)), one after another")

    def draw(ax) -> None:
        ax.plot(range(1, r["uploads"] + 1), [t["searchable_s"] for t in r["per_upload"]], marker="o")
        ax.set_xlabel("upload")
        ax.set_ylabel("seconds to searchable")
        ax.set_ylim(bottom=0)

    report.chart("stream_latency.png", draw, "seconds from upload to searchable, per upload")
    report.notes += [
        f"Visual model {visual_model}" + (": the real architecture with random weights (the same cost as "
                                          "trained weights)" if visual_model.endswith(":random") else "") + ".",
        "Scene understanding as in the end-to-end benchmark: no captioner (`--captioner none`), OCR and the "
        "text model on.",
        "Runner: BundleBasedDirectRunner (the `sceneline stream` default), local index folder; the Pub/Sub "
        "emulator and fake-gcs-server on 127.0.0.1.",
        "p95 by linear interpolation.",
    ]
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--uploads", type=int, default=20, help="timed uploads, after one warm-up")
    parser.add_argument("--clip", type=Path, default=None, help=f"default: MEDIA/{CLIP}")
    parser.add_argument("--visual-model", default="ViT-B-32:random")
    args, extra = parser.parse_known_args(argv)
    uploads = 2 if args.quick else args.uploads
    report = run((args.clip or args.media / CLIP).resolve(), uploads, args.visual_model, extra)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
