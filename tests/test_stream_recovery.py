"""A stream killed with SIGKILL in the middle of a burst of uploads loses nothing and duplicates
nothing once started again: messages are acknowledged only after their outcome is recorded,
so whatever the dead process held comes back, and rewriting it changes no count."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from sceneline.schemas import AssetStatus
from sceneline.schemas.ids import asset_id_for_object
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients
from sceneline.benchmarks.stream_process import StreamProcess

pytestmark = pytest.mark.slow

BURST = 20


def burst_images(folder, count: int) -> list:
    """Distinct small photos-like images (smooth random fields, PNG)."""
    rng = np.random.default_rng(20)
    paths = []
    for i in range(count):
        coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((320, 240), Image.Resampling.BICUBIC)
        path = folder / f"burst_{i:02d}.png"
        image.save(path)
        paths.append(path)
    return paths


def test_killed_mid_burst_and_restarted_every_upload_is_indexed_once(bucket_events, tiny_clip, tmp_path):
    bucket = bucket_events.create_bucket("burst")
    # Short leases, so the killed process's messages come back within seconds, not a minute.
    subscription = bucket_events.subscribe("recovery", ack_deadline_s=10)
    env = {**bucket_events.env(), "SCENELINE_OFFLINE": "1"}
    args = ["--visual-model", tiny_clip.spec, "--captioner", "none", "--no-ocr", "--text-model", "none",
            "--beam-arg", "lease_extension_s=10"]
    names = {f"burst/{p.name}": p for p in burst_images(tmp_path, BURST)}

    first = StreamProcess(subscription, cwd=tmp_path, env=env, args=args)
    first.wait_ready()
    generations = {}

    def upload_burst() -> None:
        for name, path in names.items():
            blob = bucket.blob(name)
            blob.upload_from_filename(str(path))
            generations[name] = blob.generation
            time.sleep(0.1)

    uploader = threading.Thread(target=upload_burst)
    uploader.start()
    first.wait_for(lambda o: o["kind"] == "indexed")  # in the middle: work done, work under way
    first.kill()
    uploader.join()
    settled_by_first = {o["uri"] for o in first.outcomes}
    assert len(settled_by_first) < BURST, "the burst was over before the kill: nothing was tested"

    second = StreamProcess(subscription, cwd=tmp_path, env=env, args=args)
    try:
        second.wait_ready()
        wanted = {f"gs://{bucket.name}/{name}" for name in names}
        # Every message the dead process held or never saw comes (again) and is settled: indexed,
        # or recognised as a duplicate where the dead process had written it but not acknowledged.
        left = wanted - settled_by_first
        second.wait_for(lambda o: o["uri"] in left and o["kind"] in ("indexed", "duplicate"), count=len(left),
                        timeout_s=180)
        store = SceneStore(StoreConfig(path=str(tmp_path / ".sceneline" / "qdrant")))
        records = [r for r in store.list_status() if r.uri in wanted]
        assert sorted(r.uri for r in records) == sorted(wanted)  # one asset per upload, none twice
        for record in records:
            name = record.uri.split("/", 3)[-1]
            assert record.asset_id == asset_id_for_object(bucket.name, name, generations[name])
            assert record.status is AssetStatus.INDEXED and record.scene_count == 1
        assert store.count_scenes() == BURST  # each image's one scene, written once
    finally:
        close_shared_clients()
        assert second.stop() == 0, second.log()
