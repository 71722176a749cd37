"""Faults injected into real runs, shared by tests/test_faults.py and benchmarks/reliability.py:
the store failing writes, a SIGKILL of a `sceneline index` process, a model that cannot load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from clips import read_frames, write_video
from sceneline.schemas import AssetStatus
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

SOURCE = "videos/psd_testvideo.mp4"


def make_clips(folder: Path, names: list[str], media: Callable[[str], Path], frames: int = 50,
               size=(96, 64)) -> list[Path]:
    """Distinct small clips of real footage, one per name."""
    folder.mkdir(parents=True, exist_ok=True)
    footage = read_frames(media(SOURCE), 0, frames + 5 * len(names), size)
    return [write_video(folder / name, footage[5 * i:5 * i + frames]) for i, name in enumerate(names)]


def index_argv(inputs: Path, out: Path, visual_spec: str) -> list[str]:
    """batch_index.run's flags: everything under `out`, scene understanding off."""
    return [f"--input={inputs}", f"--qdrant_path={out / 'qdrant'}", f"--visual_model={visual_spec}", "--offline",
            f"--thumbnails={out / 'thumbs'}", f"--dead_letter={out / 'dead'}", f"--run_dir={out / 'runs'}",
            "--runner=FnApiRunner", "--captioner=none", "--no_ocr", "--text_model=none"]


class FlakyWrites:
    """INJECTED FAULT at the store boundary, to patch over SceneStore.write_scenes: it raises
    ConnectionError for `flaky.mp4` the first two times and for `down.mp4` every time (a store
    down for longer than the retries last)."""

    def __init__(self, real):
        self.real = real
        self.calls: Counter[str] = Counter()

    def __call__(self, store, analyzed):
        name = analyzed.asset.filename
        self.calls[name] += 1
        if name == "down.mp4" or (name == "flaky.mp4" and self.calls[name] <= 2):
            raise ConnectionError(f"injected fault: the store refused write {self.calls[name]} of {name}")
        return self.real(store, analyzed)


def sceneline_command() -> list[str]:
    exe = Path(sys.executable).with_name("sceneline")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]


def cli_index_args(inputs: Path, out: Path, visual_spec: str) -> list[str]:
    return ["index", str(inputs), "--qdrant-path", str(out / "qdrant"), "--visual-model", visual_spec,
            "--thumbnails", str(out / "thumbs"), "--dead-letter", str(out / "dead"), "--captioner", "none",
            "--no-ocr", "--text-model", "none", "--offline", "--beam-arg", f"run_dir={out / 'runs'}", "--json"]


@dataclass
class KillAndResume:
    killed: bool  # the first run was still going when SIGKILL came
    indexed_before: set[str]  # asset ids the store held as indexed after the kill
    resumed_assets: list[dict]  # the resumed run's outcomes (`sceneline index --json`)
    resumed_returncode: int
    stderr: str


def kill_then_resume(inputs: Path, out: Path, visual_spec: str, cwd: Path) -> KillAndResume:
    """Start `sceneline index`, SIGKILL it once its second asset has thumbnails (so the first is
    in the store and others are not), then run it again with --resume."""
    args = cli_index_args(inputs, out, visual_spec)
    env = {**os.environ, "SCENELINE_OFFLINE": "1"}
    # One image per model batch: assets then reach thumbnails and the store one by one, not in one
    # burst after a batch of them all (which a fast run finished between two looks at the folder).
    worker = subprocess.Popen(sceneline_command() + args + ["--beam-arg", "embed_batch_images=1"], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    thumbs = out / "thumbs"
    deadline = time.monotonic() + 300
    # Per asset: thumbnails, then the store. A second asset's thumbnails mean the first is written.
    while worker.poll() is None and time.monotonic() < deadline:
        if thumbs.exists() and len(list(thumbs.iterdir())) >= 2:
            break
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)  # a real kill: no clean-up runs
    worker.wait(timeout=30)
    store = SceneStore(StoreConfig(path=str(out / "qdrant")))
    indexed_before = {r.asset_id for r in store.list_status(status=AssetStatus.INDEXED)}
    close_shared_clients()  # a local folder admits one process: let the next run have it
    resumed = subprocess.run(sceneline_command() + args + ["--resume"], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=600)
    assets = json.loads(resumed.stdout)["assets"] if resumed.returncode == 0 else []
    return KillAndResume(worker.returncode == -signal.SIGKILL, indexed_before, assets, resumed.returncode,
                         resumed.stderr)


# (flag, spec with {missing} for a path that does not exist) per model a run loads.
MISSING_MODELS = [
    ("--visual-model", "ViT-B-32:{missing}/ckpt.pt"),
    ("--text-model", "local-dir:{missing}"),
    ("--captioner", "local-dir:{missing}"),
]


def index_with_missing_model(inputs: Path, out: Path, visual_spec: str, flag: str, spec: str,
                             missing: Path) -> tuple[int, str]:
    """`sceneline index` (in this process) with one model that cannot load: exit code and output."""
    from typer.testing import CliRunner

    from sceneline.pipelines.cli import app

    models = {"--visual-model": visual_spec, "--text-model": "none", "--captioner": "none"}
    models[flag] = spec.format(missing=missing)
    args = ["index", str(inputs), "--qdrant-path", str(out / "qdrant"), "--thumbnails", str(out / "thumbs"),
            "--dead-letter", str(out / "dead"), "--no-ocr", "--offline", "--beam-arg", f"run_dir={out / 'runs'}"]
    for name, value in models.items():
        args += [name, value]
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())
