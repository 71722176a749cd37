"""The batch index pipeline end to end on Beam's FnApiRunner and a local Qdrant folder, over
every real video in ../shared/media, images, and bad input made by the tests."""

from __future__ import annotations

import json
import random
import shutil

import av
import pytest
from PIL import Image

from clips import write_audio_only
from conftest import media
from sceneline.pipelines import batch_index
from sceneline.pipelines.search import search_scenes
from sceneline.schemas import AssetStatus, SearchRequest
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients

pytestmark = pytest.mark.slow

IMAGES = ["images/misc/imageio_chelsea.png", "images/misc/pygame_scarlet.webp",
          "images/misc/moviepy_pigs_in_a_polka.gif", "images/misc/skimage_horse.png",
          "images/misc/imageio_meadow_cube.jpg"]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    real = media("videos/psd_testvideo.mp4").read_bytes()
    webm = media("videos/moviepy_big_buck_bunny_0_30.webm").read_bytes()
    rng = random.Random(7)
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "truncated.webm").write_bytes(webm[: len(webm) // 3])
    (folder / "random.mp4").write_bytes(rng.randbytes(50_000))
    (folder / "notes.txt").write_text("not media at all\n")
    write_audio_only(folder / "audio_only.mp4")
    # Undecodable frames: garbage written over a stretch of the middle of a real MPEG-4 AVI.
    damaged = bytearray(media("videos/opencv_Megamind.avi").read_bytes())
    middle = len(damaged) // 2
    damaged[middle:middle + 40_000] = rng.randbytes(40_000)
    (folder / "damaged.avi").write_bytes(bytes(damaged))
    (folder / "same_as_testvideo.mp4").write_bytes(real)  # same content, second name
    return folder


@pytest.fixture(scope="module")
def index_run(tmp_path_factory, tiny_clip, bad_inputs):
    work = tmp_path_factory.mktemp("index")
    images = work / "images"
    images.mkdir()
    for name in IMAGES:
        shutil.copy(media(name), images)
    argv = [
        f"--input={media('videos')}", f"--input={images}", f"--input={bad_inputs}",
        f"--input={media('groundtruth/gt_hardcuts.mp4')}",
        f"--qdrant_path={work / 'qdrant'}", f"--visual_model={tiny_clip.spec}", "--offline",
        f"--thumbnails={work / 'thumbs'}", f"--dead_letter={work / 'dead'}", f"--run_dir={work / 'runs'}",
        "--runner=FnApiRunner",
        # Scene understanding has its own tests; over every real video it would only add minutes.
        "--captioner=none", "--no_ocr", "--text_model=none",
    ]
    first = batch_index.run(argv)
    store = SceneStore(StoreConfig(path=str(work / "qdrant")))
    points_after_first = store.count_scenes()
    second = batch_index.run(argv)
    yield {"first": first, "second": second, "store": store, "work": work,
           "points_after_first": points_after_first, "spec": tiny_clip.spec}
    close_shared_clients()


def outcome(run, filename):
    found = [o for o in run.outcomes if o.filename == filename]
    assert found, f"no outcome for {filename}"
    return found[0]


def test_every_input_has_exactly_one_outcome(index_run):
    run = index_run["first"]
    assert len(run.outcomes) == len(run.listing.files)
    assert sorted(o.uri for o in run.outcomes) == sorted(f.uri for f in run.listing.files)


def test_every_real_video_indexes_or_fails_with_a_reason(index_run):
    run = index_run["first"]
    videos = [p for p in media("videos").rglob("*") if p.is_file() and p.suffix != ".txt"]
    for path in videos:
        o = outcome(run, path.name)
        if o.status is AssetStatus.SKIPPED:  # a bad_inputs file is a byte copy of this one
            assert o.error_type == "Duplicate" and outcome(run, "same_as_testvideo.mp4").status is AssetStatus.INDEXED
            continue
        assert o.status in (AssetStatus.INDEXED, AssetStatus.FAILED), path.name
        if o.status is AssetStatus.FAILED:
            assert o.stage and o.error_message, path.name
        else:
            assert o.scene_count >= 1, path.name
    indexed = sum(outcome(run, p.name).status is not AssetStatus.FAILED for p in videos)
    assert indexed >= len(videos) - 2  # these are all playable files: nearly all must index
    for name in ("psd_goldeneye-vfr-drop3.mp4", "psd_goldeneye_issue-134-rotate.mp4",
                 "moviepy_no_duration.webm", "opencv_tree.avi", "opencv_Megamind_bugy.avi"):
        assert outcome(run, name).status is AssetStatus.INDEXED, name


def test_bad_input_fails_with_a_reason_and_other_work_goes_on(index_run):
    run = index_run["first"]
    expected = {"zero.mp4": "empty", "random.mp4": "unknown data", "truncated.webm": "truncated",
                "audio_only.mp4": "no video stream"}
    for name, reason in expected.items():
        o = outcome(run, name)
        assert o.status is AssetStatus.FAILED and reason in o.error_message, (name, o)
        assert index_run["store"].get_status(o.asset_id).status is AssetStatus.FAILED
    # Garbage mid-stream costs a few frames, not the video: it is indexed, and says what it lost.
    damaged = outcome(run, "damaged.avi")
    assert damaged.status is AssetStatus.INDEXED and damaged.scene_count >= 3, damaged
    assert "estimated times" in (damaged.error_message or ""), damaged
    assert outcome(run, "notes.txt").status is AssetStatus.SKIPPED
    duplicate = [outcome(run, "same_as_testvideo.mp4"), outcome(run, "psd_testvideo.mp4")]
    assert sorted(o.status for o in duplicate) == [AssetStatus.INDEXED, AssetStatus.SKIPPED]
    dead_letters = [json.loads(line) for p in (index_run["work"] / "dead").rglob("*.jsonl")
                    for line in p.read_text().splitlines()]
    assert {d["uri"].rsplit("/", 1)[-1] for d in dead_letters} >= set(expected)
    assert all(d["stage"] and d["error_type"] and d["message"] for d in dead_letters)


def test_images_are_single_scenes_with_thumbnails(index_run):
    run = index_run["first"]
    for name in IMAGES:
        o = outcome(run, name.rsplit("/", 1)[-1])
        assert o.status is AssetStatus.INDEXED and o.scene_count == 1, name
        scenes = index_run["store"].scenes_of(o.asset_id)
        assert len(scenes) == 1 and scenes[0]["media_type"] == "image"
        with Image.open(scenes[0]["thumbnail_uri"]) as thumb:
            assert max(thumb.size) <= 320


def test_points_and_status_records_match_the_outcomes(index_run):
    run, store = index_run["first"], index_run["store"]
    assert index_run["points_after_first"] == run.scene_count
    for o in run.outcomes:
        if o.status is AssetStatus.INDEXED:
            scenes = store.scenes_of(o.asset_id)
            assert [s["scene_index"] for s in scenes] == list(range(o.scene_count))
            assert store.get_status(o.asset_id).status is AssetStatus.INDEXED


def test_a_second_run_adds_no_points(index_run):
    first, second = index_run["first"], index_run["second"]
    assert index_run["store"].count_scenes() == index_run["points_after_first"]
    assert {(o.uri, o.asset_id, o.status, o.scene_count) for o in first.outcomes} == \
           {(o.uri, o.asset_id, o.status, o.scene_count) for o in second.outcomes}


def test_an_image_of_mid_shot_finds_that_shot_first(index_run, tmp_path):
    gt = json.loads(media("groundtruth/gt_hardcuts.gt.json").read_text())
    shots = gt["shots"][::3]  # every third ground-truth shot
    wanted = {(s["start"] + s["end"]) // 2 if isinstance(s, dict) else (s[0] + s[1]) // 2 for s in shots}
    queries = {}
    with av.open(str(media("groundtruth/gt_hardcuts.mp4"))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                path = tmp_path / f"frame_{i}.png"
                frame.to_image().save(path)
                queries[i] = (path, frame.time)
    assert len(queries) == len(wanted)
    store = index_run["store"]
    for frame_index, (path, time_s) in queries.items():
        hits = search_scenes(store, SearchRequest(image_path=str(path), limit=5))
        top = hits[0]
        assert top.filename == "gt_hardcuts.mp4", (frame_index, hits)
        assert top.start_s <= time_s < top.end_s, (frame_index, time_s, top)
