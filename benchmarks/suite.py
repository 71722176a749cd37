"""Run the benchmark suite and write the reports (benchmarks/reports/*.md, PNG charts beside).

    python -m sceneline.benchmarks.suite                     # every benchmark, full size
    python -m sceneline.benchmarks.suite --only search embedding
    python -m sceneline.benchmarks.suite --quick --out /tmp/reports   # tiny versions (smoke test)

Each benchmark also runs alone: `python -m sceneline.benchmarks.<name> --help`.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from sceneline.benchmarks.common import benchmark_parser, machine_info

# name -> module (under sceneline.benchmarks), in the order they run.
BENCHMARKS: dict[str, str] = {
    "decode": "decode",
    "shot_detection": "shot_detection",
    "detect_vs_decode": "detect_vs_decode",
    "end_to_end": "end_to_end",
    "embedding": "embedding",
    "model_stages": "model_stages",
    "ocr_gate": "ocr_gate",
    "images": "images",
    "search": "search_latency",
    "long_video": "long_video",
    "dask_scaling": "dask_scaling",
    "understanding": "understanding",
    "speech": "speech",
    "stream": "stream_latency",
    "reliability": "reliability",
    "api": "api",
    "analyze": "analyze",
}


def write_index(directory: Path) -> Path:
    """reports/README.md: one line per report, with the headline figures from its JSON."""
    lines = ["# Benchmark reports", "",
             "Each report gives the machine, versions, the exact command and its figures. "
             "Re-run them all with `python -m sceneline.benchmarks.suite`.", ""]
    for path in sorted(directory.glob("*.md")):
        if path.name == "README.md":
            continue
        title = path.read_text().splitlines()[0].lstrip("# ").strip()
        lines.append(f"- [{title}]({path.name})")
    index = directory / "README.md"
    index.write_text("\n".join(lines) + "\n")
    return index


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"sceneline.benchmarks.{BENCHMARKS[name]}")
        flags = ["--out", str(args.out), "--media", str(args.media)] + (["--quick"] if args.quick else [])
        print(f"== {name}", flush=True)
        started = time.monotonic()
        module.main(flags)
        timings[name] = round(time.monotonic() - started, 1)
    (args.out / "suite.json").write_text(json.dumps({"machine": machine_info(), "seconds": timings}, indent=2) + "\n")
    print(write_index(args.out))


if __name__ == "__main__":
    main()
