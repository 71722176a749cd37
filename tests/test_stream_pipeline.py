"""The stream pipeline run in this process (stream_index.run with a stop event), where a test can
look inside: how RunInference batches what arrives together, and dead letters sent to a Pub/Sub
topic. The emulators and the tiny model are real; the model handler records its batch sizes."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest

from conftest import media
from sceneline.pipelines import stream_index
from sceneline.transforms.models.embed import ClipImageEmbeddingHandler
from sceneline.transforms.store.scene_store import close_shared_clients

pytestmark = pytest.mark.slow

BATCHES: list[int] = []  # assets per model call, recorded by the handler below (same process)


class RecordingHandler(ClipImageEmbeddingHandler):
    def run_inference(self, batch, model, inference_args=None):
        BATCHES.append(len(batch))
        return super().run_inference(batch, model, inference_args)


class Outcomes(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.seen: list[dict] = []

    def emit(self, record):
        if hasattr(record, "outcome"):
            self.seen.append(record.outcome)

    def wait_for(self, count: int, timeout_s: float = 120) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count:
            assert time.monotonic() < deadline, f"have {self.seen}"
            time.sleep(0.1)
        return self.seen


@pytest.fixture
def outcomes():
    handler = Outcomes()
    logger = logging.getLogger(stream_index.OUTCOME_LOGGER)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_what_arrives_together_is_embedded_together_and_poison_goes_to_a_topic(
        bucket_events, tiny_clip, tmp_path, outcomes, monkeypatch):
    pubsub = bucket_events.pubsub
    bucket = bucket_events.create_bucket("batch")
    subscription = bucket_events.subscribe("inprocess")
    dead_letters = pubsub.create_topic(f"dead-{uuid.uuid4().hex[:6]}")
    dead_letter_reader = pubsub.create_subscription(f"dead-reader-{uuid.uuid4().hex[:6]}", dead_letters)
    names = ["opencv_fruits.jpg", "opencv_apple.jpg", "opencv_orange.jpg", "opencv_baboon.jpg",
             "opencv_butterfly.jpg", "opencv_home.jpg"]
    for name in names:  # all waiting before the stream starts: they arrive together
        bucket.blob(f"photos/{name}").upload_from_filename(str(media(f"images/misc/{name}")))
    pubsub.publish(bucket_events.topic, b'{"hello": 1}', kind="not a notification")

    monkeypatch.setattr("sceneline.transforms.models.embed.ClipImageEmbeddingHandler", RecordingHandler)
    BATCHES.clear()
    stop = threading.Event()
    argv = [f"--subscription={subscription}", f"--qdrant_path={tmp_path / 'qdrant'}", f"--visual_model={tiny_clip.spec}",
            "--offline", f"--thumbnails={tmp_path / 'thumbs'}", f"--dead_letter={dead_letters}",
            "--captioner=none", "--no_ocr", "--text_model=none"]
    runner = threading.Thread(target=stream_index.run, kwargs={"argv": argv, "stop": stop}, daemon=True)
    runner.start()
    try:
        seen = outcomes.wait_for(len(names) + 1)
    finally:
        stop.set()
        runner.join(timeout=60)
        close_shared_clients()
    assert not runner.is_alive()

    assert sorted(o["kind"] for o in seen) == ["indexed"] * len(names) + ["rejected"]
    assert sum(BATCHES) == len(names)
    assert len(BATCHES) < len(names) and max(BATCHES) >= 2, BATCHES

    [letter] = pubsub.pull_all(dead_letter_reader)  # written before the message was acknowledged
    body = json.loads(letter.data)
    assert letter.attributes["stage"] == "event" and letter.attributes["dead_letter_id"].startswith("message-")
    assert body["original_message"]["attributes"] == {"kind": "not a notification"}
    assert "not a Cloud Storage notification" in body["message"]
