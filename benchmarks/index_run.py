"""Figures of one `sceneline index` run: assets, scenes, wall seconds, peak memory.

    python -m sceneline.benchmarks.index_run ../shared/media/videos --visual-model ViT-B-32:random

Runs the real console script in a child process (a fresh store in a temporary folder) and
reports its own summary plus the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(paths: list[str], extra: list[str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sceneline-bench-"))
    exe = shutil.which("sceneline") or str(Path(sys.executable).with_name("sceneline"))
    command = [exe, "index", *[str(Path(p).resolve()) for p in paths], "--json", *extra]
    started = time.monotonic()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"sceneline index failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    shutil.rmtree(work, ignore_errors=True)
    video_s = sum(a.get("duration_s") or 0 for a in summary["assets"])
    return {
        "command": " ".join(["sceneline", "index", *paths, "--json", *extra]),
        "inputs": len(summary["assets"]),
        "counts": summary["counts"],
        "scenes": summary["scenes"],
        "pipeline_s": summary["elapsed_s"],
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "video_s": round(video_s, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    args, extra = parser.parse_known_args(argv)
    print(json.dumps(measure(args.paths, extra), indent=2))


if __name__ == "__main__":
    main()
