"""The API server (`sceneline serve`) under load, through HTTP as clients see it.

    python -m sceneline.benchmarks.api            # 10k and 100k scenes, 32 searchers + 4 uploaders for 60 s
    python -m sceneline.benchmarks.api --quick    # 1k scenes, 4 + 1 for 8 s, a 64 MB upload

1. Search through the API at N scenes: requests/s and p50/p95 with 8 concurrent clients,
   side by side with the same queries run in-process on the store (SceneStore via
   pipelines/search.py, no HTTP): the peer that shows what the API layer costs. The scenes are
   synthetic (random unit vectors of the model's size, written into the index directly) and the
   query encoder is a tiny random-weight open_clip, so figures are about the API and the store,
   not a model.
2. Load: searchers and uploaders at once; search p50/p95, errors, and uploads lost (an accepted
   task that is not `ready` or `failed` at the end, or whose stored size differs).
3. Upload: one large generated file (a real MP4's first bytes, then zeros; streamed, never in
   memory) through POST /tasks: MB/s and the server's resident memory before and at peak,
   side by side with a plain file copy on the same disk; into the default local media root, and
   into a gs:// media root (`--media-root gs://...`, a resumable upload to fake-gcs-server on
   127.0.0.1, so the figure is the server's cost, not a network's).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np

from sceneline.benchmarks.common import Report, benchmark_parser, percentile

KEY = "bench-key"
TINY_CLIP = {"embed_dim": 64,
             "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
DIM = TINY_CLIP["embed_dim"]
SCENES_PER_VIDEO = 10
SEARCH_COST_NOTE = ("The peer runs the search the server runs (pipelines/search.py, the same query encoder and "
                    "store query) one at a time in one process. The server admits only `ready` videos: it reads "
                    "its records once per change and tells the store the few assets to leave out (none here: "
                    "every video is ready). The API's cost over the peer is HTTP and the multipart form, the "
                    "per-video filters and the hit mapping over N videos' records, and 8 clients sharing one "
                    "server process (its throughput, not one request's time, is the comparable figure).")
QUERIES = ("a person walking", "text on a slide", "a red car", "the sea at night", "a ball bouncing")


def tiny_clip(folder: Path) -> str:
    import open_clip
    import torch

    config = folder / "bench-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(7)
    checkpoint = folder / "bench-clip.pt"
    torch.save(open_clip.create_model("bench-clip").state_dict(), checkpoint)
    return f"{config}:{checkpoint}"


def fill_index(home: Path, spec: str, n_scenes: int) -> str:
    """An index of synthetic scenes, written straight into the store, and ready video records."""
    from sceneline.benchmarks.search_latency import synthetic_assets
    from sceneline.pipelines.server.records import READY, VideoRow, new_id
    from sceneline.pipelines.server.records_sqlite import SqliteRecords as Records
    from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
    from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

    records = Records(home)
    index = records.add_index("bench", [{"model_name": "marengo3.0", "model_options": ["visual"]}], [])
    store = SceneStore(StoreConfig(path=str(home / "qdrant"), collection=f"scenes-{index.id}"))
    store.ensure_collections({VISUAL_VECTOR: DIM}, {VISUAL_VECTOR: spec})
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n_scenes, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for analyzed in synthetic_assets(vectors, rng.integers(0, 10, n_scenes)):
        store.write_scenes(analyzed)
        a = analyzed.asset
        row = VideoRow(id=new_id(), task_id=new_id(), index_id=index.id, status=READY, filename=a.filename,
                       path=a.uri, asset_id=a.asset_id, size=a.size_bytes)
        records.add_video(row)
        records.update_video(row.id, system_metadata={"duration": analyzed.probe.duration_s, "width": 1280,
                                                      "height": 720, "fps": 25.0})
    records.close()
    close_shared_clients()
    return index.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(home: Path, spec: str, workers: int = 1, *flags: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    exe = Path(sys.executable).with_name("sceneline")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]
    log = open(home.parent / "server.log", "ab")
    proc = subprocess.Popen(command + ["serve", "--port", str(port), "--home", str(home), "--api-key", KEY,
                                       "--visual-model", spec, "--captioner", "none", "--no-ocr", "--text-model",
                                       "none", "--detector", "content", "--offline", "--index-workers", str(workers),
                                       *flags],
                            stdout=log, stderr=log, env={**os.environ, "SCENELINE_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError((home.parent / "server.log").read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def search_clients(url: str, index_id: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": KEY}, timeout=120) as http:
            i = n
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    r = http.post("/search", files={"index_id": (None, index_id), "search_options": (None, "visual"),
                                                    "query_text": (None, QUERIES[i % len(QUERIES)]),
                                                    "page_limit": (None, "10")})
                    outcome = r.status_code == 200, f"{r.status_code} {r.text[:100]}"
                except httpx.HTTPError as exc:  # a timeout counts as an error, never kills the client
                    outcome = False, f"{type(exc).__name__}: {exc}"
                took = time.perf_counter() - started
                with lock:
                    (latencies if outcome[0] else errors).append(took if outcome[0] else outcome[1])
                i += 1

    with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": KEY}, timeout=300) as http:
        http.post("/search", files={"index_id": (None, index_id), "search_options": (None, "visual"),
                                    "query_text": (None, "warm-up")})  # loads the query model once
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    stop = time.monotonic() + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "rps": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p95_ms": percentile(latencies, 95) * 1000}


def in_process_search(home: Path, index_id: str, spec: str, seconds: float) -> dict:
    """The peer: pipelines/search.py on the same store, same filter the server builds, no HTTP."""
    from sceneline.pipelines.search import search
    from sceneline.pipelines.server.records_sqlite import SqliteRecords as Records
    from sceneline.schemas import SearchRequest
    from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

    from sceneline.pipelines.server.routers.search import asset_constraint

    records = Records(home)
    ready, every_asset = records.searchable(index_id)
    constraint = asset_constraint({}, {v.asset_id for v in ready}, every_asset)
    records.close()
    store = SceneStore(StoreConfig(path=str(home / "qdrant"), collection=f"scenes-{index_id}"))
    search(store, SearchRequest(text="warm-up", limit=10), offline=True)  # loads the query model once
    latencies = []
    stop, i = time.monotonic() + seconds, 0
    while time.monotonic() < stop:
        started = time.perf_counter()
        search(store, SearchRequest(text=QUERIES[i % len(QUERIES)], limit=10, **constraint), offline=True)
        latencies.append(time.perf_counter() - started)
        i += 1
    close_shared_clients()
    return {"clients": 1, "requests": len(latencies), "rps": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000}


def unique_video(source: bytes) -> bytes:
    """A real video made unique (trailing bytes after the last box), so each upload is indexed."""
    return source + b"\0\0\0\x10free" + uuid.uuid4().bytes[:8]


def load(url: str, index_id: str, video: bytes, searchers: int, uploaders: int, seconds: float) -> dict:
    accepted: list[tuple[str, int]] = []
    upload_errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def uploader() -> None:
        with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": KEY}, timeout=300) as http:
            while time.monotonic() < stop:
                data = unique_video(video)
                try:
                    r = http.post("/tasks", data={"index_id": index_id},
                                  files={"video_file": ("clip.mp4", io.BytesIO(data), "video/mp4")})
                except httpx.HTTPError as exc:  # not accepted: the client knows, so nothing is lost
                    with lock:
                        upload_errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if r.status_code == 200:
                        accepted.append((r.json()["_id"], len(data)))
                    else:
                        upload_errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=uploader) for _ in range(uploaders)]
    for t in threads:
        t.start()
    searched = search_clients(url, index_id, searchers, seconds)
    for t in threads:
        t.join()
    # Every accepted upload must be on record, whole; indexing goes on at its own pace (a backlog
    # of runs on this machine's cores), so statuses are counted as they stand.
    lost, states = [], {}
    with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": KEY}, timeout=60) as http:
        for task_id, size in accepted:
            task = http.get(f"/tasks/{task_id}")
            states[task_id] = task.json() if task.status_code == 200 else {}
            video = http.get(f"/indexes/{index_id}/indexed-assets/{states[task_id].get('video_id')}").json()
            if task.status_code != 200 or video.get("system_metadata", {}).get("size") != size:
                lost.append(task_id)
    return {**searched, "uploaders": uploaders, "uploads_accepted": len(accepted), "upload_errors": len(upload_errors),
            "statuses": {st: sum(s.get("status") == st for s in states.values())
                         for st in ("pending", "indexing", "ready", "failed")}, "uploads_lost": len(lost)}


class GeneratedVideo(io.RawIOBase):
    """`size` bytes: a real MP4's head, then zeros, produced as read (never held in memory)."""

    def __init__(self, head: bytes, size: int):
        self._head, self._size, self._pos = head, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        chunk = bytearray(n)
        if self._pos < len(self._head):
            part = self._head[self._pos:self._pos + n]
            chunk[:len(part)] = part
        buffer[:n] = chunk
        self._pos += n
        return n


def big_upload(url: str, index_id: str, server: subprocess.Popen, head: bytes, size: int, work: Path) -> dict:
    import psutil

    proc = psutil.Process(server.pid)
    before = proc.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.NoSuchProcess):
                peak = max(peak, proc.memory_info().rss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    with httpx.Client(timeout=3600) as http:
        r = http.post(f"{url}/v1.3/tasks", headers={"x-api-key": KEY}, data={"index_id": index_id},
                      files={"video_file": ("big.mp4", io.BufferedReader(GeneratedVideo(head, size), 1 << 20))})
    api_s = time.perf_counter() - started
    done.set()
    sampler.join()
    ok = r.status_code == 200
    if ok:  # the upload is not a real video past its head: drop it before it is indexed
        with httpx.Client(timeout=60) as http:
            http.delete(f"{url}/v1.3/tasks/{r.json()['_id']}", headers={"x-api-key": KEY})
    # The peer: the same bytes copied to a file on the same disk, with fsync.
    started = time.perf_counter()
    with open(work / "copy.bin", "wb") as out:
        shutil.copyfileobj(io.BufferedReader(GeneratedVideo(head, size), 1 << 20), out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    copy_s = time.perf_counter() - started
    (work / "copy.bin").unlink()
    mb = size / 1e6
    return {"bytes": size, "status": r.status_code, "api_mb_s": mb / api_s, "copy_mb_s": mb / copy_s,
            "rss_before_mib": before / 2**20, "rss_peak_mib": peak / 2**20,
            "rss_growth_mib": (peak - before) / 2**20}


def bucket_upload(work: Path, spec: str, head: bytes, size: int) -> dict:
    """The big upload into a gs:// media root: fake-gcs-server (with the Pub/Sub emulator it notifies)."""
    from sceneline.benchmarks import gcp_emulators

    with gcp_emulators.pubsub_emulator(work / "pubsub.log") as pubsub, \
            gcp_emulators.fake_gcs_server(pubsub, pubsub.create_topic(f"uploads-{uuid.uuid4().hex[:6]}"),
                                          work) as bucket_events:
        bucket = bucket_events.create_bucket("bench")
        home = work / "home-gcs"
        home.mkdir()
        with serving(home, spec, 1, "--media-root", f"gs://{bucket.name}/api") as (url, server):
            with httpx.Client(timeout=60) as http:
                index_id = http.post(f"{url}/v1.3/indexes", headers={"x-api-key": KEY}, json={
                    "index_name": "bench-gcs",
                    "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}]}).json()["_id"]
            return big_upload(url, index_id, server, head, size, work)


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", default=None, help="scene counts, comma-separated (default 10000,100000)")
    parser.add_argument("--load-seconds", type=float, default=None)
    parser.add_argument("--upload-mb", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "10000,100000")).split(",")]
    seconds = args.load_seconds or (8.0 if args.quick else 60.0)
    searchers, uploaders = (4, 1) if args.quick else (32, 4)
    upload_bytes = (args.upload_mb or (64 if args.quick else 2048)) * 1_000_000
    video = (args.media / "videos" / "imageio_realshort.mp4").read_bytes()

    work = Path(tempfile.mkdtemp(prefix="sceneline-api-bench-"))
    report = Report("api", "The API server (sceneline serve) under load",
                    intro=__doc__.split("\n\n", 2)[2].strip())
    try:
        spec = tiny_clip(work)
        rows, search_figures = [], []
        load_figures = upload_figures = bucket_figures = None
        for n in sizes:
            home = work / f"home-{n}"
            index_id = fill_index(home, spec, n)
            peer = in_process_search(home, index_id, spec, min(seconds, 15))
            with serving(home, spec) as (url, server):
                api = search_clients(url, index_id, 8, min(seconds, 20))
                if n == sizes[0]:
                    load_figures = load(url, index_id, video, searchers, uploaders, seconds)
                    upload_figures = big_upload(url, index_id, server, video[:65536], upload_bytes, work)
            search_figures.append({"scenes": n, "api": api, "in_process": peer})
            rows += [(n, "API, 8 clients", f"{api['rps']:.1f}", api["p50_ms"], api["p95_ms"], api["errors"]),
                     (n, "in-process (peer)", f"{peer['rps']:.1f}", peer["p50_ms"], peer["p95_ms"], 0)]
            shutil.rmtree(home, ignore_errors=True)
        bucket_figures = bucket_upload(work, spec, video[:65536], upload_bytes)
        report.table(["scenes", "through", "searches/s", "p50 (ms)", "p95 (ms)", "errors"], rows,
                     caption="Search: through the API vs the same search in-process")
        lf = load_figures
        report.table(["searchers", "uploaders", "seconds", "searches", "search p50 (ms)", "search p95 (ms)",
                      "search errors", "uploads accepted", "statuses at the end", "uploads lost"],
                     [(lf["clients"], lf["uploaders"], seconds, lf["requests"], lf["p50_ms"], lf["p95_ms"],
                       lf["errors"], lf["uploads_accepted"],
                       ", ".join(f"{k} {v}" for k, v in lf["statuses"].items() if v), lf["uploads_lost"])],
                     caption=f"Load at {sizes[0]} scenes: searching while uploading (each upload a unique copy "
                             f"of imageio_realshort.mp4, indexed for real)")
        report.table(["media root", "bytes", "status", "API MB/s", "file copy MB/s (peer)", "server RSS before (MiB)",
                      "server RSS peak (MiB)", "growth (MiB)"],
                     [(root, uf["bytes"], uf["status"], uf["api_mb_s"], uf["copy_mb_s"], uf["rss_before_mib"],
                       uf["rss_peak_mib"], uf["rss_growth_mib"])
                      for root, uf in (("local folder", upload_figures), ("gs:// (fake-gcs-server)", bucket_figures))],
                     caption="One large upload through POST /tasks (streamed: the server's memory stays flat)")
        report.notes.append("kill -9 recovery is checked by tests/test_api_recovery.py (every accepted task "
                            "ends ready or failed, no upload lost); 5xx under generated requests by "
                            "tests/test_api_fuzz.py.")
        report.notes.append(SEARCH_COST_NOTE)
        report.figures = {"search": search_figures, "load": load_figures, "upload": upload_figures,
                          "upload_to_bucket": bucket_figures,
                          "quick": args.quick}
        report.write(args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
