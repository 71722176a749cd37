"""Faults: the store failing writes for a while, a worker killed mid-run, a model that cannot
be loaded. Each is survived: retried, dead-lettered, resumed or refused before any work, and
no input is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clips import read_frames, write_video
from conftest import media
from sceneline.pipelines import batch_index
from sceneline.pipelines.cli import app
from sceneline.schemas import AssetStatus
from sceneline.transforms.store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow

SOURCE = "videos/psd_testvideo.mp4"


def make_clips(folder: Path, names: list[str], frames: int = 50, size=(96, 64)) -> list[Path]:
    """Distinct small clips of real footage, one per name."""
    folder.mkdir(parents=True, exist_ok=True)
    footage = read_frames(media(SOURCE), 0, frames + 5 * len(names), size)
    return [write_video(folder / name, footage[5 * i:5 * i + frames]) for i, name in enumerate(names)]


def index_argv(inputs: Path, out: Path, clip_spec: str) -> list[str]:
    return [f"--input={inputs}", f"--qdrant_path={out / 'qdrant'}", f"--visual_model={clip_spec}", "--offline",
            f"--thumbnails={out / 'thumbs'}", f"--dead_letter={out / 'dead'}", f"--run_dir={out / 'runs'}",
            "--captioner=none", "--no_ocr", "--text_model=none"]


class FlakyWrites:
    """INJECTED FAULT at the store boundary: SceneStore.write_scenes raises ConnectionError,
    for `flaky.mp4` the first two times, for `down.mp4` every time (a store down for longer
    than the retries last)."""

    def __init__(self, real):
        self.real = real
        self.calls: Counter[str] = Counter()

    def __call__(self, store, analyzed):
        name = analyzed.asset.filename
        self.calls[name] += 1
        if name == "down.mp4" or (name == "flaky.mp4" and self.calls[name] <= 2):
            raise ConnectionError(f"injected fault: the store refused write {self.calls[name]} of {name}")
        return self.real(store, analyzed)


def test_store_writes_failing_for_a_while_are_retried_then_dead_lettered(tmp_path, tiny_clip, monkeypatch):
    make_clips(tmp_path / "in", ["flaky.mp4", "down.mp4", "fine.mp4"])
    flaky = FlakyWrites(SceneStore.write_scenes)
    monkeypatch.setattr(SceneStore, "write_scenes", lambda store, analyzed: flaky(store, analyzed))
    try:
        run = batch_index.run(index_argv(tmp_path / "in", tmp_path / "out", tiny_clip.spec))
        store = SceneStore(StoreConfig(path=str(tmp_path / "out" / "qdrant")))
        outcomes = {o.filename: o for o in run.outcomes}
        assert sorted(outcomes) == ["down.mp4", "fine.mp4", "flaky.mp4"]  # none dropped
        assert flaky.calls == {"flaky.mp4": 3, "down.mp4": 4, "fine.mp4": 1}  # backoff retries, then give up
        assert outcomes["flaky.mp4"].status is AssetStatus.INDEXED
        assert store.count_scenes(outcomes["flaky.mp4"].asset_id) == outcomes["flaky.mp4"].scene_count
        down = outcomes["down.mp4"]
        assert down.status is AssetStatus.FAILED and down.stage == "write" and down.retryable
        assert "injected fault" in down.error_message and store.count_scenes(down.asset_id) == 0
        assert store.get_status(down.asset_id).status is AssetStatus.FAILED
        letters = [json.loads(line) for p in (tmp_path / "out" / "dead").rglob("*.jsonl")
                   for line in p.read_text().splitlines()]
        assert [(d["uri"].rsplit("/", 1)[-1], d["stage"], d["retryable"]) for d in letters] == \
               [("down.mp4", "write", True)]
    finally:
        close_shared_clients()


def sceneline_command() -> list[str]:
    exe = Path(sys.executable).with_name("sceneline")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]


def cli_index_args(inputs: Path, out: Path, clip_spec: str) -> list[str]:
    return ["index", str(inputs), "--qdrant-path", str(out / "qdrant"), "--visual-model", clip_spec,
            "--thumbnails", str(out / "thumbs"), "--dead-letter", str(out / "dead"), "--captioner", "none",
            "--no-ocr", "--text-model", "none", "--json"]


def test_a_run_killed_mid_asset_resumes_with_the_missing_assets_only(tmp_path, tiny_clip):
    names = [f"clip_{i:02d}.mp4" for i in range(10)]
    make_clips(tmp_path / "in", names, frames=100, size=(160, 96))
    out = tmp_path / "out"
    args = cli_index_args(tmp_path / "in", out, tiny_clip.spec)
    env = {**os.environ, "SCENELINE_OFFLINE": "1"}
    worker = subprocess.Popen(sceneline_command() + args, cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    thumbs = out / "thumbs"
    deadline = time.monotonic() + 300
    # A second asset's thumbnails mean the first is written: thumbnails, then the store, per asset.
    while worker.poll() is None and time.monotonic() < deadline:
        if thumbs.exists() and len(list(thumbs.iterdir())) >= 2:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # a real kill: no clean-up runs
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    store = SceneStore(StoreConfig(path=str(out / "qdrant")))
    indexed_before = {r.asset_id for r in store.list_status(status=AssetStatus.INDEXED)}
    close_shared_clients()  # a local folder admits one process: let the next run have it
    assert 1 <= len(indexed_before) < len(names)

    resumed = subprocess.run(sceneline_command() + args + ["--resume"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assets = json.loads(resumed.stdout)["assets"]
    assert len(assets) == len(names)
    skipped = {a["asset_id"] for a in assets if a["status"] == "skipped"}
    redone = {a["asset_id"] for a in assets if a["status"] == "indexed"}
    assert skipped == indexed_before and all("already indexed" in a["error"] for a in assets
                                             if a["status"] == "skipped")
    assert len(redone) == len(names) - len(indexed_before)

    store = SceneStore(StoreConfig(path=str(out / "qdrant")))
    try:
        records = store.list_status()
        assert len(records) == len(names) and all(r.status is AssetStatus.INDEXED for r in records)
        for r in records:  # no scene twice, none missing, including the asset killed mid-write
            assert [s["scene_index"] for s in store.scenes_of(r.asset_id)] == list(range(r.scene_count))
        assert store.count_scenes() == sum(r.scene_count for r in records)
    finally:
        close_shared_clients()


@pytest.mark.parametrize("flag, spec, named", [
    ("--visual-model", "ViT-B-32:{missing}/ckpt.pt", "checkpoint"),
    ("--text-model", "local-dir:{missing}", "text"),
    ("--captioner", "local-dir:{missing}", "captioner"),
])
def test_a_model_that_cannot_load_stops_the_run_before_any_work(tmp_path, tiny_clip, flag, spec, named):
    make_clips(tmp_path / "in", ["one.mp4"])
    models = {"--visual-model": tiny_clip.spec, "--text-model": "none", "--captioner": "none"}
    models[flag] = spec.format(missing=tmp_path / "missing")
    out = tmp_path / "out"
    args = ["index", str(tmp_path / "in"), "--qdrant-path", str(out / "qdrant"), "--thumbnails", str(out / "thumbs"),
            "--dead-letter", str(out / "dead"), "--no-ocr", "--offline", f"--run_dir={out / 'runs'}"]
    for name, value in models.items():
        args += [name, value]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(tmp_path / "missing") in message.replace(" ", "") or named in message.lower(), message
    assert not out.exists()  # refused before the store, thumbnails or any outcome were made
