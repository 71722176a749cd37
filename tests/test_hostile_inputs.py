"""The batch pipeline once over every kind of bad or odd input (tests/hostile_inputs.py): each
ends as indexed, skipped or failed with a reason, none is lost, and nothing is written outside
the configured output folders, whatever the file's name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import media
from hostile_inputs import FAILED, INDEXED, RUN_LIMIT_ARGS, SKIPPED, make_hostile_inputs
from sceneline.pipelines import batch_index
from sceneline.schemas import AssetStatus
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow

OUTPUT_FOLDERS = ("qdrant", "thumbs", "dead", "runs")
LIMIT_FLAGS = {"max_pixels": "--max-pixels", "max_duration_s": "--max-duration-s", "max_frames": "--max-frames"}


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def hostile_run_argv(inputs: Path, out: Path, clip_spec: str) -> list[str]:
    return [
        f"--input={inputs}", f"--qdrant_path={out / 'qdrant'}", f"--visual_model={clip_spec}", "--offline",
        f"--thumbnails={out / 'thumbs'}", f"--dead_letter={out / 'dead'}", f"--run_dir={out / 'runs'}",
        "--runner=FnApiRunner", "--captioner=none", "--no_ocr", "--text_model=none", *RUN_LIMIT_ARGS,
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, tiny_clip):
    root = tmp_path_factory.mktemp("hostile")
    inputs, out, cwd = root / "inputs", root / "out", root / "cwd"
    cwd.mkdir()
    kinds = make_hostile_inputs(inputs, media)
    before = tree(root)
    previous_cwd = os.getcwd()
    os.chdir(cwd)  # anything written relative to the working folder would land here
    try:
        run = batch_index.run(hostile_run_argv(inputs, out, tiny_clip.spec))
    finally:
        os.chdir(previous_cwd)
    store = SceneStore(StoreConfig(path=str(out / "qdrant")))
    yield {"kinds": kinds, "run": run, "root": root, "out": out, "before": before, "store": store}
    close_shared_clients()


def outcomes_by_path(run) -> dict[str, object]:
    return {o.uri: o for o in run.outcomes}


def test_the_generator_makes_at_least_30_kinds(hostile):
    kinds = hostile["kinds"]
    assert len(kinds) >= 30 and len({k.name for k in kinds}) == len(kinds)
    assert all(k.files and all(f.exists() for f in k.files) for k in kinds)


def test_no_input_is_lost(hostile):
    run = hostile["run"]
    made = sorted(str(f.resolve()) for k in hostile["kinds"] for f in k.files)
    assert sorted(f.uri for f in run.listing.files) == made
    assert sorted(o.uri for o in run.outcomes) == made  # exactly one outcome each


def test_every_kind_ends_as_expected_with_a_reason(hostile):
    outcomes = outcomes_by_path(hostile["run"])
    wrong = []
    for kind in hostile["kinds"]:
        for path in kind.files:
            o = outcomes[str(path.resolve())]
            ok = o.status.value in kind.expect and {
                AssetStatus.FAILED: bool(o.stage and o.error_type and o.error_message),
                AssetStatus.SKIPPED: bool(o.error_message),
                AssetStatus.INDEXED: (o.scene_count or 0) >= 1,
            }[o.status]
            if kind.reason and o.status is not AssetStatus.INDEXED:
                ok = ok and kind.reason in o.error_message
            if not ok:
                wrong.append((kind.name, o.status.value, o.stage, o.error_message))
    assert not wrong, wrong


def test_the_same_content_is_indexed_once(hostile):
    outcomes = outcomes_by_path(hostile["run"])
    pair = next(k for k in hostile["kinds"] if k.name == "same_content_two_names")
    statuses = sorted(outcomes[str(f.resolve())].status.value for f in pair.files)
    assert statuses == [INDEXED, SKIPPED]


def test_limit_failures_name_the_limit_and_the_flag_that_changes_it(hostile):
    outcomes = outcomes_by_path(hostile["run"])
    limited = [k for k in hostile["kinds"] if k.reason in LIMIT_FLAGS]
    assert {k.reason for k in limited} == set(LIMIT_FLAGS)
    for kind in limited:
        o = outcomes[str(kind.files[0].resolve())]
        assert o.status is AssetStatus.FAILED and LIMIT_FLAGS[kind.reason] in o.error_message, (kind.name, o)
        assert o.retryable is False


def test_failures_are_recorded_in_the_store_and_as_dead_letters(hostile):
    run, store = hostile["run"], hostile["store"]
    failed = [o for o in run.outcomes if o.status is AssetStatus.FAILED]
    assert failed
    letters = [json.loads(line) for p in (hostile["out"] / "dead").rglob("*.jsonl")
               for line in p.read_text().splitlines()]
    assert sorted(d["uri"] for d in letters) == sorted(o.uri for o in failed)
    for o in failed:
        assert store.get_status(o.asset_id).status is AssetStatus.FAILED, o.uri
    for o in run.outcomes:
        if o.status is AssetStatus.INDEXED:
            assert store.count_scenes(o.asset_id) == o.scene_count, o.uri


def test_nothing_is_written_outside_the_output_folders(hostile):
    root, out = hostile["root"], hostile["out"]
    new = tree(root) - hostile["before"]
    stray = [p for p in new if not any(p == f"out/{d}" or p.startswith(f"out/{d}/") for d in OUTPUT_FOLDERS)
             and p != "out"]
    assert not stray, stray
    assert not list((root / "cwd").iterdir())
    thumbs = out / "thumbs"
    for path in thumbs.rglob("*"):  # named by asset id and scene index only
        assert path.resolve().is_relative_to(thumbs.resolve())
    # the inputs themselves are untouched
    assert all(f.exists() for k in hostile["kinds"] for f in k.files)


def test_an_object_name_that_climbs_folders_still_writes_under_the_thumbnail_folder(tmp_path):
    from sceneline.schemas import asset_id_for_object
    from sceneline.transforms.sinks import thumbnail_uri

    # A bucket object can be named anything; output paths come from its id, never its name.
    asset_id = asset_id_for_object("bucket", "../../../etc/cron.d/x.mp4", "1")
    path = Path(thumbnail_uri(str(tmp_path / "thumbs"), asset_id, 0))
    assert path.resolve().is_relative_to((tmp_path / "thumbs").resolve()) and ".." not in path.parts
