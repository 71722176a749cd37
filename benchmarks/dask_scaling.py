"""Dask scaling: the same `sceneline index` run on a local dask cluster of 1 and of 2 worker
processes (and, for reference, on FnApiRunner in one process and in 2 worker processes).

    python -m sceneline.benchmarks.dask_scaling ../shared/media/videos --visual-model ViT-B-32:random

Each run is the real console script in a child process with a fresh store (see index_run).
Wall time includes starting the cluster and loading the model in every worker, which is what a
user waits for; on a machine with N cores, N workers is the most that can help.
"""

from __future__ import annotations

import argparse
import json

from sceneline.benchmarks.index_run import measure

CONFIGURATIONS = {
    "fnapi-1-process": ["--runner", "FnApiRunner"],
    "fnapi-2-processes": ["--runner", "FnApiRunner", "--direct_running_mode=multi_processing",
                          "--direct_num_workers=2"],
    "dask-1-worker": ["--runner", "DaskRunner", "--dask-workers", "1"],
    "dask-2-workers": ["--runner", "DaskRunner", "--dask-workers", "2"],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--only", choices=sorted(CONFIGURATIONS), action="append",
                        help="Run only these configurations (repeatable).")
    args, extra = parser.parse_known_args(argv)
    results = {}
    for name, flags in CONFIGURATIONS.items():
        if args.only and name not in args.only:
            continue
        results[name] = measure(args.paths, [*flags, *extra])
        print(f"{name}: {results[name]['wall_s']} s wall, {results[name]['pipeline_s']} s pipeline, "
              f"{results[name]['scenes']} scenes", flush=True)
    if "dask-1-worker" in results and "dask-2-workers" in results:
        results["speedup_2_over_1_workers"] = round(
            results["dask-1-worker"]["wall_s"] / results["dask-2-workers"]["wall_s"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
