"""`sceneline setup-bucket`: topics and subscription made for real on the Pub/Sub emulator, left
alone when they exist; the bucket notification as google-cloud-storage sends it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sceneline.pipelines.bucket_setup import NOTIFIED_EVENTS, BucketSetup, setup_bucket
from sceneline.benchmarks.stream_process import sceneline_command


def test_setup_makes_topics_and_a_subscription_with_a_dead_letter_policy_once(pubsub_emulator):
    from google.cloud import pubsub_v1

    suffix = uuid.uuid4().hex[:6]
    args = ["setup-bucket", "gs://media", "--project", pubsub_emulator.project, "--topic", f"up-{suffix}",
            "--subscription", f"st-{suffix}", "--dead-letter-topic", f"dl-{suffix}", "--no-notification"]
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": pubsub_emulator.host}
    first = subprocess.run(sceneline_command() + args, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 3

    with pubsub_v1.SubscriberClient() as subscriber:
        made = subscriber.get_subscription(subscription=pubsub_emulator.subscription_path(f"st-{suffix}"))
    assert made.topic == pubsub_emulator.topic_path(f"up-{suffix}") and made.ack_deadline_seconds == 60
    assert made.dead_letter_policy.dead_letter_topic == pubsub_emulator.topic_path(f"dl-{suffix}")
    assert made.dead_letter_policy.max_delivery_attempts == 5
    assert f"--subscription projects/{pubsub_emulator.project}/subscriptions/st-{suffix}" in first.stdout

    again = subprocess.run(sceneline_command() + args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "created" not in again.stdout and again.stdout.count("exists") == 3


class NotificationConfigs(BaseHTTPRequestHandler):
    """Cloud Storage's notificationConfigs API for one bucket, in memory. A stand-in: neither
    fake-gcs-server nor any other emulator that runs here has this API."""

    configs: list[dict] = []
    inserted: list[dict] = []

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._reply({"kind": "storage#notifications", "items": self.configs})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        made = {**body, "id": str(len(self.configs) + 1), "kind": "storage#notification"}
        self.configs.append(made)
        self.inserted.append(body)
        self._reply(made)

    def log_message(self, *args):
        pass


@pytest.fixture
def storage_api(monkeypatch):
    NotificationConfigs.configs, NotificationConfigs.inserted = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotificationConfigs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
    yield NotificationConfigs
    server.shutdown()


def test_the_bucket_notifies_the_topic_of_uploads_and_removals_once(pubsub_emulator, storage_api):
    setup = BucketSetup(project=pubsub_emulator.project, bucket="media", topic=f"up-{uuid.uuid4().hex[:6]}",
                        subscription=f"st-{uuid.uuid4().hex[:6]}", prefix="incoming/")
    steps = setup_bucket(setup)
    assert "now notifies" in steps[-1]
    [sent] = storage_api.inserted
    assert sent["topic"] == f"//pubsub.googleapis.com/{setup.topic_path}"
    assert sent["payload_format"] == "JSON_API_V1" and sent["object_name_prefix"] == "incoming/"
    assert sorted(sent["event_types"]) == sorted(NOTIFIED_EVENTS)

    steps = setup_bucket(setup)
    assert "already notifies" in steps[-1] and len(storage_api.inserted) == 1
