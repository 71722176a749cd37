"""What every benchmark shares: the machine and versions, timing and memory measurement, and a
report writer (Markdown with PNG charts beside it, plus the figures as JSON)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
REPORTS_DIR = REPO_ROOT / "benchmarks" / "reports"
DEFAULT_MEDIA = Path(os.environ.get("SCENELINE_TEST_MEDIA", REPO_ROOT.parent / "shared" / "media"))
PACKAGES = ["apache-beam", "av", "torch", "open-clip-torch", "qdrant-client", "numpy", "pillow"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    import psutil

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    try:
        import av

        versions["FFmpeg (in PyAV)"] = av.ffmpeg_version_info
    except Exception:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except Exception:
        commit = ""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": "none",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Measured:
    seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(command: Sequence[str], *, cwd: Path | None = None, env: dict | None = None,
                 timeout: float | None = None) -> Measured:
    """Run a command; wall time and the peak resident memory of its whole process tree
    (sampled every 50 ms, children included: Dask and multi-process workers count)."""
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(list(command), cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                break
            peak = max(peak, total)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        sampler.join()
    return Measured(time.monotonic() - started, peak / 2**20, proc.returncode, out, err)


def model_load_s(result: Any, namespace: str) -> float:
    """Seconds a finished Beam pipeline spent loading models under a RunInference metrics
    namespace (Beam's own load-time metric), to take out of a throughput figure."""
    from apache_beam.metrics.metric import MetricsFilter

    metrics = result.metrics().query(MetricsFilter().with_namespace(namespace))
    return sum((dist.committed or dist.attempted).sum / 1000 for dist in metrics.get("distributions", [])
               if dist.key.metric.name.endswith("load_model_latency_milli_secs"))


def benchmark_parser(doc: str | None):
    """An argument parser with the flags every benchmark takes (the suite passes them on)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny version (the CI smoke test)")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder (default benchmarks/reports)")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="the shared media folder")
    return parser


def ffmpeg_exe() -> str:
    """The `ffmpeg` command for reference decodes: the system's if installed, else the static build
    that the imageio-ffmpeg wheel (a bench extra) ships, so the suite runs where apt-get cannot."""
    import shutil

    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise SystemExit("no ffmpeg command: apt-get install -y ffmpeg, or pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def sceneline_exe() -> str:
    exe = Path(sys.executable).with_name("sceneline")
    return str(exe) if exe.exists() else "sceneline"


def invoked_command() -> str:
    """How this benchmark was started, as a user would type it (`python -m sceneline.benchmarks.X ...`)."""
    script = Path(sys.argv[0])
    head = (["python", "-m", f"sceneline.benchmarks.{script.stem}"] if script.suffix == ".py"
            else [script.name])
    return " ".join(shlex.quote(a) for a in head + sys.argv[1:])


@dataclass
class Report:
    """A benchmark report: Markdown sections, tables and charts, and machine-readable figures."""

    name: str
    title: str
    command: str = field(default_factory=invoked_command)
    intro: str = ""
    blocks: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    charts: list[tuple[str, Callable[[Any], None]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self, markdown: str) -> None:
        self.blocks.append(markdown.strip())

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> None:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
            return str(v)

        lines = ([f"**{caption}**", ""] if caption else []) + [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|",
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows),
        ]
        self.blocks.append("\n".join(lines))

    def chart(self, filename: str, draw: Callable[[Any], None], alt: str) -> None:
        """Add a PNG chart; `draw(ax)` plots on a matplotlib Axes."""
        self.charts.append((filename, draw))
        self.blocks.append(f"![{alt}]({filename})")

    def write(self, directory: Path = REPORTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for filename, draw in self.charts:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
            draw(ax)
            fig.tight_layout()
            fig.savefig(directory / filename)
            plt.close(fig)
        machine = machine_info()
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
        header = [
            f"# {self.title}",
            "",
            f"Measured {when} on {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
            f"no GPU; {machine['os']}, Python {machine['python']}; commit {machine['commit'] or 'n/a'}; "
            f"load average at the end {machine['load_average']}.",
            "",
            f"Versions: {versions}.",
            "",
            "Command:",
            "",
            f"```\n{self.command}\n```",
        ]
        if self.intro:
            header += ["", self.intro.strip()]
        body = "\n\n".join(self.blocks)
        notes = ("\n\n## Notes\n\n" + "\n".join(f"- {n}" for n in self.notes)) if self.notes else ""
        path = directory / f"{self.name}.md"
        path.write_text("\n".join(header) + "\n\n" + body + notes + "\n")
        (directory / f"{self.name}.json").write_text(json.dumps(
            {"name": self.name, "command": self.command, "machine": machine, "figures": self.figures},
            indent=2, default=str) + "\n")
        return path
