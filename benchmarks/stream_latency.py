"""Time from upload to searchable with `sceneline stream`, on this machine.

    python -m sceneline.benchmarks.stream_latency [--clip PATH] [--uploads 20] [--visual-model SPEC]

Starts the Pub/Sub emulator and fake-gcs-server (which sends real bucket notifications), runs the
real `sceneline stream` console script on a fresh local index, uploads the clip once to warm up
(the model loads with the first batch), then uploads it N more times under new names, one after
another, and times each from the start of its upload until its scenes are in the index, polled
from this process through the stream's gateway, the way `sceneline search` reaches them. Run from
the repository root with the test extra installed (pip install -e ".[test]"). Writes
benchmarks/reports/stream_latency.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sceneline.benchmarks import gcp_emulators
from sceneline.benchmarks.stream_process import StreamProcess

DEFAULT_CLIP = "../shared/media/videos/moviepy_chaplin.mp4"
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
    return {"name": name, "upload_s": round(uploaded - started, 3), "searchable_s": round(searchable - started, 3),
            "scenes": outcome["scene_count"]}


def _summary(values: list[float]) -> dict:
    array = np.asarray(values)
    return {"median": round(float(np.median(array)), 3), "p95": round(float(np.percentile(array, 95)), 3),
            "min": round(float(array.min()), 3), "max": round(float(array.max()), 3)}


def measure(clip: Path, uploads: int, visual_model: str, extra: list[str], command: str) -> dict:
    from sceneline.transforms.store import SceneStore, StoreConfig

    work = Path(tempfile.mkdtemp(prefix="sceneline-stream-bench-"))
    load_before = os.getloadavg()
    with gcp_emulators.pubsub_emulator(work / "pubsub.log") as pubsub:
        topic = pubsub.create_topic("uploads")
        with gcp_emulators.fake_gcs_server(pubsub, topic, work) as events:
            bucket = events.create_bucket("bench")
            subscription = events.subscribe("bench")
            started = time.monotonic()
            stream = StreamProcess(subscription, cwd=work, env={**events.env(), "SCENELINE_OFFLINE": "1"},
                                   args=["--visual-model", visual_model, *extra])
            try:
                stream.wait_ready()
                ready_s = time.monotonic() - started
                store = SceneStore(StoreConfig(path=str(work / ".sceneline" / "qdrant")))
                warm_up = _time_one(bucket, stream, store, clip, "warmup/clip.mp4")
                timed = [_time_one(bucket, stream, store, clip, f"timed/clip_{i:03d}.mp4") for i in range(uploads)]
            finally:
                stream.stop()
    return {
        "command": command,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()]},
        "clip": _clip_info(clip),
        "visual_model": visual_model,
        "stream_ready_s": round(ready_s, 2),
        "warm_up": warm_up,
        "searchable_s": _summary([t["searchable_s"] for t in timed]),
        "upload_s": _summary([t["upload_s"] for t in timed]),
        "uploads": timed,
    }


def write_report(result: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stream_latency.json").write_text(json.dumps(result, indent=2))
    s, u, clip = result["searchable_s"], result["upload_s"], result["clip"]
    lines = [
        "# Stream latency: upload to searchable",
        "",
        f"`{result['command']}`",
        "",
        f"- clip: {clip['file']}, {clip['width']}x{clip['height']} {clip['codec']}, {clip['duration_s']} s, "
        f"{clip['bytes']} bytes; {result['uploads'][0]['scenes']} scene(s) found",
        f"- model: {result['visual_model']}"
        + (" (the real architecture with random weights: the same cost as trained weights)"
           if result["visual_model"].endswith(":random") else ""),
        f"- machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, load average "
        f"{result['machine']['load_before']} before, {result['machine']['load_after']} after",
        "- runner: BundleBasedDirectRunner (`sceneline stream` default), local index folder served to this "
        "process; Pub/Sub emulator and fake-gcs-server on 127.0.0.1",
        f"- stream start to ready: {result['stream_ready_s']} s; warm-up upload (model load): "
        f"{result['warm_up']['searchable_s']} s",
        "",
        f"{len(result['uploads'])} uploads, one after another; seconds from the start of each upload until its "
        "scenes are in the index:",
        "",
        "| | median | p95 | min | max |",
        "|---|---|---|---|---|",
        f"| upload to searchable | {s['median']} | {s['p95']} | {s['min']} | {s['max']} |",
        f"| of which the upload itself | {u['median']} | {u['p95']} | {u['min']} | {u['max']} |",
        "",
        "p95 by linear interpolation (numpy.percentile). Timings on a shared machine are noisy; compare runs "
        "on a quiet one.",
        "",
    ]
    path = folder / "stream_latency.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default=DEFAULT_CLIP, help="The short clip to upload.")
    parser.add_argument("--uploads", type=int, default=20, help="Timed uploads (after one warm-up).")
    parser.add_argument("--visual-model", default="ViT-B-32:random")
    parser.add_argument("--report-dir", default="benchmarks/reports")
    args, extra = parser.parse_known_args(argv)
    command = " ".join(["python -m sceneline.benchmarks.stream_latency", *(sys.argv[1:] if argv is None else argv)])
    result = measure(Path(args.clip).resolve(), args.uploads, args.visual_model, extra, command)
    report = write_report(result, Path(args.report_dir))
    print(report.read_text())


if __name__ == "__main__":
    main()
