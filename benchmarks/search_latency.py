"""Search: ingest rate, query latency (p50/p95/p99), top-10 recall and peak memory of the
embedded store (Qdrant's engine in-process, HNSW) against an exact scan, at each index size.

    python -m sceneline.benchmarks.search_latency --sizes 10000 100000 1000000 --modes embedded exact --out DIR
    python -m sceneline.benchmarks.search_latency --quick    # 2k scenes (CI smoke test)

Modes: `embedded` writes through SceneStore.write_scenes (10 scenes per asset, the pipeline's
own write path) into a local folder, builds the HNSW graphs, and queries through
SceneStore.query_scenes; `exact` is a brute-force numpy scan over the same vectors, which gives
the true top 10 that recall is measured against; `proxy` is the embedded store reached from
another process's side, through the store protocol (HTTP on 127.0.0.1); `local-mode` is the old
embedded default (qdrant-client's local mode in a folder, an exact scan in Python).

Every (mode, size) runs in a fresh process, so its peak RSS is its own (it includes the test
vectors, 2 KiB a scene). Queries run with no filter, with a filter on a scene field (one tag of
ten, about a tenth of the scenes), and with a filter on an asset field (a tenth of the assets by
duration), which the store resolves on its media collection into asset ids (docs/store.md).

Vectors are 512-d (CLIP ViT-B-32's size) and clustered the way embeddings of a video library
are: 200 topics, each asset near one topic, each scene near its asset. Queries are new points
near a topic (like a text query about a subject), not copies of stored vectors. Uniform random
vectors would be no test of an index: in 512 dimensions they have no neighbours to find.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np

from sceneline.benchmarks.common import Report, benchmark_parser, median, percentile
from sceneline.pipelines.filters import translate_filter
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR

DIM = 512
SCENES_PER_ASSET = 10
TOPICS = 200
TAGS = 10
TARGETS = {100_000: 5.0, 1_000_000: 20.0}  # p95 ms
TARGET_INGEST_PER_S = 10_000
TARGET_RECALL = 0.98
MODES = ("embedded", "exact", "proxy", "local-mode")
# Filters, each admitting about a tenth of the scenes: on a scene's own field, and on its asset's.
FILTERS: dict[str, dict] = {"tag": {"tags": "tag3"}, "asset": {"duration": {"gte": 76}}}


def asset_duration(first_row: int) -> float:
    """A synthetic asset's duration: 40 to 76 s, so a tenth of the assets last 76 s."""
    return 40.0 + 4.0 * ((first_row // SCENES_PER_ASSET) % 10)


def _normalise(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def library(n_scenes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scene vectors clustered by topic and asset, and each scene's tag number. Drawn a chunk at a
    time in float32, so a million scenes cost their 2 GiB and not five times that in temporaries."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
    n_assets = -(-n_scenes // SCENES_PER_ASSET)
    asset_topic = rng.integers(0, TOPICS, n_assets)
    scenes = np.empty((n_scenes, DIM), dtype=np.float32)
    chunk_assets = 10_000
    for first in range(0, n_assets, chunk_assets):
        topic = asset_topic[first:first + chunk_assets]
        assets = topics[topic] + 0.8 * rng.standard_normal((len(topic), DIM), dtype=np.float32)
        rows = np.repeat(assets, SCENES_PER_ASSET, axis=0)
        start = first * SCENES_PER_ASSET
        rows = rows[:n_scenes - start]
        scenes[start:start + len(rows)] = _normalise(rows + 0.7 * rng.standard_normal(rows.shape, dtype=np.float32))
    tags = np.repeat(asset_topic % TAGS, SCENES_PER_ASSET)[:n_scenes]
    return scenes, tags


def queries(n: int, seed: int = 99) -> np.ndarray:
    rng = np.random.default_rng(0)
    topics = rng.standard_normal((TOPICS, DIM))  # the library's topics (same seed, same draw)
    q = np.random.default_rng(seed)
    return _normalise(topics[q.integers(0, TOPICS, n)] + 0.8 * q.standard_normal((n, DIM)))


def synthetic_assets(vectors: np.ndarray, tags: np.ndarray) -> Iterator[AnalyzedAsset]:
    for a in range(0, len(vectors), SCENES_PER_ASSET):
        count = min(SCENES_PER_ASSET, len(vectors) - a)
        asset_id = str(uuid.UUID(int=a + 1))
        scenes = [Scene(index=i, start_s=i * 4.0, end_s=i * 4.0 + 4, start_frame=i * 100, end_frame=i * 100 + 99,
                        vectors={VISUAL_VECTOR: vectors[a + i].tolist()}, thumbnail_uri=f"/thumbs/{asset_id}/{i}.jpg",
                        enrichment={"tags": [f"tag{tags[a + i]}"]})
                  for i in range(count)]
        media = MediaAsset(asset_id=asset_id, uri=f"/media/video_{a:07d}.mp4", media_type=MediaType.VIDEO,
                           size_bytes=10_000_000)
        probe = ProbeInfo(duration_s=asset_duration(a), display_width=1280, display_height=720, avg_fps=25.0, codec="h264")
        yield AnalyzedAsset(asset=media, probe=probe, scenes=scenes, models={VISUAL_VECTOR: "benchmark"})


def exact_top10(vectors: np.ndarray, mask: np.ndarray | None, q: np.ndarray) -> list[int]:
    scores = vectors @ q
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, 10)[:10]
    return top[np.argsort(-scores[top])].tolist()


def scene_index_of(hit) -> int:
    """The row of a hit's scene in the vectors array (assets are numbered by their first row)."""
    return uuid.UUID(hit.asset_id).int - 1 + hit.scene_index


@contextlib.contextmanager
def open_store(mode: str, folder: Path):
    from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

    config = StoreConfig(path=str(folder), collection="bench")
    if mode == "embedded":
        yield SceneStore(config)
    elif mode == "proxy":
        from sceneline.pipelines.store_service import serve_store
        from sceneline.transforms.store.proxy import ProxyBackend

        with serve_store(str(folder)) as url:
            proxy = ProxyBackend(url)
            yield SceneStore(config, backend=proxy)
            proxy.close()
    elif mode == "local-mode":
        from qdrant_client import QdrantClient

        from sceneline.transforms.store.client_backend import QdrantClientBackend

        backend = QdrantClientBackend(QdrantClient(path=str(folder)))
        yield SceneStore(config, backend=backend)
        backend.close()
    else:
        raise ValueError(mode)
    close_shared_clients()


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def _timed_cpu(fn) -> tuple[float, float, object]:
    """Wall and CPU milliseconds of one call. CPU time (every thread of this process) is what the
    query costs whatever else the machine runs; wall time includes waiting for a core."""
    cpu_started, started = time.process_time(), time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu_started) * 1000, result


def measure(mode: str, n_scenes: int, n_queries: int) -> list[dict]:
    """Rows for one mode and size (no filter, and with the filter), measured in this process."""
    vectors, tags = library(n_scenes)
    qs = queries(n_queries)
    durations = np.array([asset_duration(row) for row in range(n_scenes)])
    masks = {None: None, "tag": tags == int(FILTERS["tag"]["tags"].removeprefix("tag")),
             "asset": durations >= FILTERS["asset"]["duration"]["gte"]}
    truth = {name: [exact_top10(vectors, mask, q) for q in qs] for name, mask in masks.items()}
    rows = []
    if mode == "exact":  # nothing to ingest or build: the scan reads the array of vectors
        for name, mask in masks.items():
            timings = [_timed_cpu(lambda: exact_top10(vectors, mask, q))[:2] for q in qs]
            rows.append(_row(mode, n_scenes, name, None, None, timings, 1.0))
        return rows
    work = Path(tempfile.mkdtemp(prefix="sceneline-search-"))
    try:
        with open_store(mode, work / "index") as store:
            store.ensure_collections({VISUAL_VECTOR: DIM}, {VISUAL_VECTOR: "benchmark"})
            # Only the writes are timed: making the synthetic assets (pydantic models of 512 floats a
            # scene) costs about as much again, and is the benchmark's, not the write path's.
            ingest_s = ingest_cpu_s = 0.0
            for analyzed in synthetic_assets(vectors, tags):
                started, cpu_started = time.perf_counter(), time.process_time()
                store.write_scenes(analyzed)
                ingest_s += time.perf_counter() - started
                ingest_cpu_s += time.process_time() - cpu_started
            # The store builds the graphs of every 200k new points as they come (writes wait for
            # it): that time is the build's, not the write path's.
            built_on_the_way = getattr(store.backend, "build_seconds", 0.0)
            ingest_s -= built_on_the_way
            ingest_cpu_s -= getattr(store.backend, "build_cpu_seconds", 0.0)
            build_ms, _ = _timed(store.backend.optimize)  # the rest (the store also builds them on close)
            build_ms += built_on_the_way * 1000
            assert store.count_scenes() == n_scenes
            for name in masks:
                where = translate_filter(FILTERS[name]) if name else None
                store.query_scenes({VISUAL_VECTOR: qs[0].tolist()}, limit=10, query_filter=where)  # warm-up
                timings, found = [], 0
                for q, expected in zip(qs, truth[name]):
                    ms, cpu_ms, hits = _timed_cpu(lambda: store.query_scenes({VISUAL_VECTOR: q.tolist()}, limit=10,
                                                                             query_filter=where))
                    timings.append((ms, cpu_ms))
                    found += len({scene_index_of(h) for h in hits} & set(expected))
                rows.append(_row(mode, n_scenes, name, (n_scenes / ingest_s, n_scenes / ingest_cpu_s),
                                 build_ms / 1000, timings, found / (10 * len(qs))))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _row(mode: str, n: int, filter_name: str | None, ingest_per_s: tuple[float, float] | None, build_s: float | None,
         timings: list[tuple[float, float]], recall: float) -> dict:
    """One row; `ingest_per_s` is (by wall time, by CPU time), `timings` each query's (wall, CPU) ms."""
    wall = [w for w, _ in timings]
    cpu = [c for _, c in timings]
    return {"mode": mode, "scenes": n, "filter": FILTERS[filter_name] if filter_name else None,
            "filter_on": filter_name or "none",
            "ingest_per_s": ingest_per_s[0] if ingest_per_s else None,
            "ingest_per_cpu_s": ingest_per_s[1] if ingest_per_s else None,
            "index_build_s": build_s, "p50_ms": median(wall), "p95_ms": percentile(wall, 95),
            "p99_ms": percentile(wall, 99), "cpu_p50_ms": median(cpu), "cpu_p95_ms": percentile(cpu, 95),
            "recall_at_10": recall, "queries": len(timings)}


def _or_na(value: float | None) -> float | str:
    return "n/a" if value is None else value


def _child(mode: str, n: int, n_queries: int, results) -> None:
    rows = measure(mode, n, n_queries)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    results.put([{**r, "peak_rss_mib": peak_mib} for r in rows])


def measure_in_child(mode: str, n: int, n_queries: int) -> list[dict]:
    # One BLAS thread for the exact scan: on a shared machine more threads only contend.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_child, args=(mode, n, n_queries, results))
    child.start()
    rows = results.get()
    child.join()
    return rows


def run(sizes: list[int], modes: list[str], n_queries: int) -> Report:
    report = Report(
        name="search", title="Search latency, recall and ingest rate of the embedded store",
        intro=("Top 10 by cosine on the `visual` vector, payload returned, through sceneline's store; "
               "ingest through SceneStore.write_scenes (10 scenes per asset). Recall@10 is against the `exact` "
               "scan's true top 10, with no filter, with the scene filter "
               f"`{FILTERS['tag']}` and with the asset filter `{FILTERS['asset']}` (each about a tenth of the scenes). Targets: at 100k scenes p95 <= 5 ms, ingest >= "
               f"{TARGET_INGEST_PER_S:,} scenes/s, recall@10 >= {TARGET_RECALL}; at 1M p95 <= 20 ms. Vectors: "
               "512-d, clustered by topic and asset like a video library's embeddings; queries near a topic. "
               "Each mode and size ran in its own process; peak RSS is that process's (vectors included). The "
               "exact scan is numpy (one BLAS thread) over the array of vectors: nothing to ingest or build."),
    )
    rows = []
    for n in sizes:
        for mode in modes:
            for r in measure_in_child(mode, n, n_queries):
                rows.append(r)
                print(f"{mode:10s} {n:>8d} {r['filter_on']:6s} ingest {r['ingest_per_s'] or 0:10.0f}/s "
                      f"({r['ingest_per_cpu_s'] or 0:.0f}/CPU-s) build {r['index_build_s'] or 0:6.1f} s  "
                      f"p50 {r['p50_ms']:.2f}  p95 {r['p95_ms']:.2f}  p99 {r['p99_ms']:.2f} ms  "
                      f"CPU p50 {r['cpu_p50_ms']:.2f} p95 {r['cpu_p95_ms']:.2f} ms  recall {r['recall_at_10']:.3f}  "
                      f"rss {r['peak_rss_mib']:.0f} MiB", flush=True)
    report.figures["results"] = rows
    report.table(["mode", "scenes", "filter", "ingest (scenes/s)", "ingest (scenes/CPU-s)", "HNSW build (s)",
                  "p50 (ms)", "p95 (ms)", "p99 (ms)", "CPU p50 (ms)", "CPU p95 (ms)", "recall@10", "peak RSS (MiB)"],
                 [[r["mode"], r["scenes"], r["filter_on"], _or_na(r["ingest_per_s"]),
                   _or_na(r["ingest_per_cpu_s"]), _or_na(r["index_build_s"]), r["p50_ms"], r["p95_ms"], r["p99_ms"],
                   r["cpu_p50_ms"], r["cpu_p95_ms"], r["recall_at_10"], r["peak_rss_mib"]] for r in rows])

    def draw(ax) -> None:
        for mode in dict.fromkeys(r["mode"] for r in rows):
            for name, style in (("none", "-"), ("tag", "--"), ("asset", ":")):
                pts = [r for r in rows if r["mode"] == mode and r["filter_on"] == name]
                if pts:
                    ax.plot([r["scenes"] for r in pts], [r["p95_ms"] for r in pts], marker="o", linestyle=style,
                            label=f"{mode} p95{'' if name == 'none' else f' ({name} filter)'}")
        for n, target in TARGETS.items():
            ax.scatter([n], [target], marker="_", s=400, color="grey")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("scenes in the index")
        ax.set_ylabel("query latency p95 (ms)")
        ax.legend(fontsize=7)

    report.chart("search_latency.png", draw, "query p95 by index size and mode (grey: targets)")
    report.notes.append("`ingest (scenes/s)` is the write path alone; the HNSW graphs are built by the store "
                        "every 200k new points as they come and when it closes (an index run's end), and `HNSW "
                        "build` is all of that time (writes wait for it). Until a build, new scenes are searched "
                        "exactly: always found, only slower.")
    report.notes.append("The machine is shared (see the load average): wall-clock latencies are upper bounds. The "
                        "CPU columns (process CPU time per query, every thread) are what a query costs whatever "
                        "else runs; on an idle machine wall time approaches them.")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["embedded", "exact"])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.modes, args.queries = [2000], ["embedded", "exact"], 20
    report = run(args.sizes, args.modes, args.queries)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
