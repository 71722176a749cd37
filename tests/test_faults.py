"""Faults: the store failing writes for a while, a worker killed mid-run, a model that cannot
be loaded. Each is survived: retried, dead-lettered, resumed or refused before any work, and
no input is lost. The faults themselves are in tests/fault_injection.py."""

from __future__ import annotations

import json

import pytest

from conftest import media
from fault_injection import MISSING_MODELS, FlakyWrites, index_argv, index_with_missing_model, kill_then_resume, \
    make_clips
from sceneline.pipelines import batch_index
from sceneline.schemas import AssetStatus
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow


def test_store_writes_failing_for_a_while_are_retried_then_dead_lettered(tmp_path, tiny_clip, monkeypatch):
    make_clips(tmp_path / "in", ["flaky.mp4", "down.mp4", "fine.mp4"], media)
    flaky = FlakyWrites(SceneStore.write_scenes)  # an injected fault (see its docstring)
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


def test_a_run_killed_mid_asset_resumes_with_the_missing_assets_only(tmp_path, tiny_clip):
    names = [f"clip_{i:02d}.mp4" for i in range(10)]
    make_clips(tmp_path / "in", names, media, frames=100, size=(160, 96))
    out = tmp_path / "out"
    result = kill_then_resume(tmp_path / "in", out, tiny_clip.spec, cwd=tmp_path)
    assert result.killed, "the run ended before it could be killed"
    assert 1 <= len(result.indexed_before) < len(names)
    assert result.resumed_returncode == 0, result.stderr
    assets = result.resumed_assets
    assert len(assets) == len(names)
    skipped = {a["asset_id"] for a in assets if a["status"] == "skipped"}
    redone = {a["asset_id"] for a in assets if a["status"] == "indexed"}
    assert skipped == result.indexed_before
    assert all("already indexed" in a["error"] for a in assets if a["status"] == "skipped")
    assert len(redone) == len(names) - len(result.indexed_before)

    store = SceneStore(StoreConfig(path=str(out / "qdrant")))
    try:
        records = store.list_status()
        assert len(records) == len(names) and all(r.status is AssetStatus.INDEXED for r in records)
        for r in records:  # no scene twice, none missing, including the asset killed mid-write
            assert [s["scene_index"] for s in store.scenes_of(r.asset_id)] == list(range(r.scene_count))
        assert store.count_scenes() == sum(r.scene_count for r in records)
    finally:
        close_shared_clients()


@pytest.mark.parametrize("flag, spec", MISSING_MODELS)
def test_a_model_that_cannot_load_stops_the_run_before_any_work(tmp_path, tiny_clip, flag, spec):
    make_clips(tmp_path / "in", ["one.mp4"], media)
    out = tmp_path / "out"
    code, message = index_with_missing_model(tmp_path / "in", out, tiny_clip.spec, flag, spec, tmp_path / "missing")
    assert code == 2, message
    assert "missing" in message and "error" in message, message  # names the model's path
    assert not out.exists()  # refused before the store, thumbnails or any outcome were made
