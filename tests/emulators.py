"""Fixtures for the Google Cloud emulators (sceneline.benchmarks.gcp_emulators starts them);
tests/conftest.py makes them available to every test module.

`pubsub_emulator` is one emulator for the session (nothing starts unless a test asks for it);
`bucket_events` gives each test module a topic of its own and a fake-gcs-server that notifies
it of every upload and delete in any bucket, with helpers to make buckets and subscriptions.
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from sceneline.benchmarks import gcp_emulators
from sceneline.benchmarks.gcp_emulators import BucketEvents, PubsubEmulator


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory) -> Iterator[PubsubEmulator]:
    try:
        with gcp_emulators.pubsub_emulator(tmp_path_factory.mktemp("pubsub") / "emulator.log") as emulator:
            yield emulator
    except gcp_emulators.EmulatorMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def bucket_events(pubsub_emulator, tmp_path_factory) -> Iterator[BucketEvents]:
    topic = pubsub_emulator.create_topic(f"uploads-{uuid.uuid4().hex[:8]}")
    with gcp_emulators.fake_gcs_server(pubsub_emulator, topic, tmp_path_factory.mktemp("gcs")) as events:
        yield events
