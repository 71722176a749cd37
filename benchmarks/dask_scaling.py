"""Scaling out on one machine: `sceneline index` on a local dask cluster of 1 and of 2 worker
processes, and for reference on FnApiRunner in one process and in 2 worker processes.

    python -m sceneline.benchmarks.dask_scaling                     # ../shared/media/videos
    python -m sceneline.benchmarks.dask_scaling PATH... [--model SPEC] [--only NAME ...]
    python -m sceneline.benchmarks.dask_scaling --quick             # three short clips

Each configuration is the real console script in a child process with a fresh store (as in
end_to_end). Wall time includes starting the cluster and loading the model in every worker,
which is what a user waits for; peak memory is the whole process tree, workers included. With
N cores, N workers is the most that can help, and only when the machine is otherwise idle.
"""

from __future__ import annotations

from sceneline.benchmarks.common import Report, benchmark_parser
from sceneline.benchmarks.end_to_end import index_benchmark_args, measure

CONFIGURATIONS: dict[str, list[str]] = {
    "fnapi-1-process": ["--runner", "FnApiRunner"],
    "fnapi-2-processes": ["--runner", "FnApiRunner", "--beam-arg", "direct_running_mode=multi_processing",
                          "--beam-arg", "direct_num_workers=2"],
    "dask-1-worker": ["--runner", "DaskRunner", "--dask-workers", "1"],
    "dask-2-workers": ["--runner", "DaskRunner", "--dask-workers", "2"],
}


def run(paths: list[str], model: str, names: list[str], extra: list[str]) -> Report:
    results = {}
    for name in names:
        results[name] = measure(paths, model, [*CONFIGURATIONS[name], *extra])
        print(f"{name}: {results[name]['process_wall_s']:.1f} s wall, {results[name]['scenes']} scenes", flush=True)
    report = Report(name="dask_scaling", title="Scaling out on one machine: dask and multi-process runs",
                    intro=__doc__.split("\n\n", 2)[2])
    report.figures["runs"] = results
    baseline = results.get("dask-1-worker")
    if baseline and "dask-2-workers" in results:
        report.figures["speedup_2_over_1_dask_workers"] = (
            baseline["process_wall_s"] / results["dask-2-workers"]["process_wall_s"])
    report.table(
        ["configuration", "wall s (incl. start-up)", "pipeline s", "scenes", "indexed / failed / skipped",
         "peak RSS MiB (tree)"],
        [[name, r["process_wall_s"], r["pipeline_s"], r["scenes"],
          f"{r['counts']['indexed']} / {r['counts']['failed']} / {r['counts']['skipped']}", r["peak_rss_mib"]]
         for name, r in results.items()])
    if len({r["scenes"] for r in results.values()}) > 1:
        report.notes.append("The configurations found different scene counts: see the JSON figures.")
    report.notes.append(f"Visual model {model}: random weights, speed only.")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGURATIONS), help="run only these")
    args, paths, extra = index_benchmark_args(__doc__, argv, parser)
    report = run(paths, args.model, args.only or list(CONFIGURATIONS), extra)
    print(report.write(args.out))


if __name__ == "__main__":
    main()
