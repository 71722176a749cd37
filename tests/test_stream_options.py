"""The stream's settings are checked before any work: the runner it can run on, the
subscription's form, lease bounds, and where dead letters go."""

from __future__ import annotations

import subprocess

import apache_beam as beam
import pytest

from sceneline.benchmarks.stream_process import sceneline_command
from sceneline.pipelines import stream_index
from sceneline.pipelines.stream_index import LOCAL_STREAM_RUNNER, resolve_stream_runner
from sceneline.pipelines.understanding import UnderstandingModels
from sceneline.transforms.io.dead_letters import FolderDeadLetters, TopicDeadLetters, dead_letter_sink
from sceneline.transforms.io.pubsub_source import SubscriptionError
from sceneline.transforms.models.model_spec import parse_clip_spec
from sceneline.transforms.store.scene_store import StoreConfig


@pytest.mark.parametrize("name, expected", [
    (None, LOCAL_STREAM_RUNNER),
    ("direct", LOCAL_STREAM_RUNNER),
    ("BundleBasedDirectRunner", LOCAL_STREAM_RUNNER),
    ("dataflow", "DataflowRunner"),
    ("FlinkRunner", "FlinkRunner"),
])
def test_streams_run_on_the_local_streaming_runner_or_a_remote_one(name, expected):
    assert resolve_stream_runner(name) == expected


@pytest.mark.parametrize("name", ["FnApiRunner", "dask"])
def test_a_batch_only_runner_is_refused(name):
    with pytest.raises(ValueError, match="runs only bounded pipelines"):
        resolve_stream_runner(name)


@pytest.mark.parametrize("argv, message", [
    (["--subscription=uploads"], "projects/PROJECT/subscriptions/NAME"),
    (["--subscription=projects/p1/topics/t1"], "projects/PROJECT/subscriptions/NAME"),
    (["--subscription=projects/p1/subscriptions/s1", "--lease_extension_s=5"], "between 10 and 600"),
])
def test_bad_settings_fail_before_any_work(argv, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        stream_index.run(argv + [f"--qdrant_path={tmp_path / 'q'}", "--visual_model=none"])
    assert not (tmp_path / "q").exists()  # not even the store was touched


def test_dead_letters_go_to_a_topic_or_a_folder_per_subscription(tmp_path):
    topic = dead_letter_sink("projects/p1/topics/dead", "projects/p1/subscriptions/uploads")
    folder = dead_letter_sink(str(tmp_path), "projects/p1/subscriptions/uploads")
    assert isinstance(topic, TopicDeadLetters) and topic.topic == "projects/p1/topics/dead"
    assert isinstance(folder, FolderDeadLetters) and folder.folder == str(tmp_path / "stream-uploads")


def test_the_command_exits_2_with_the_reason(tmp_path):
    bad = subprocess.run(sceneline_command() + ["stream", "--subscription", "uploads", "--visual-model", "none"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "projects/PROJECT/subscriptions/NAME" in bad.stderr


def test_a_subscription_that_does_not_exist_fails_before_any_work(pubsub_emulator, tmp_path):
    missing = pubsub_emulator.subscription_path("nobody-made-this")
    with pytest.raises(SubscriptionError, match="no subscription .*setup-bucket"):
        stream_index.run([f"--subscription={missing}", f"--qdrant_path={tmp_path / 'q'}", "--visual_model=none"])


def test_on_remote_runners_the_pipeline_reads_with_beam_and_spreads_and_batches_by_time():
    """The Dataflow form, built (not run: no Dataflow here): Beam's ReadFromPubSub, the
    Reshuffle over workers and RunInference's batching with a time limit; none of the local
    source's steps."""
    from apache_beam.options.pipeline_options import PipelineOptions

    opts = PipelineOptions(["--subscription=projects/media-project/subscriptions/uploads", "--streaming",
                            "--embed_batch_wait_s=2"])
    p = beam.Pipeline(options=opts)
    store = StoreConfig(url="http://qdrant:6333")
    ocr_only = UnderstandingModels(captioner=None, ocr=True, text=None)
    stream_index.build_stream_pipeline(p, opts, "run-1", parse_clip_spec("ViT-B-32:random"), store, local=False, understanding=ocr_only)
    labels = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
    assert any("Index/ReadVisibleText" in label for label in labels)  # the understanding stages, as in batch
    assert any(label.endswith("Read/ReadFromPubSub") for label in labels)
    assert any("Index/SpreadOverWorkers" in label for label in labels)
    assert any("_pardo_stateful_batch_elements" in label or "StatefulBatchElements" in label for label in labels)
    assert not any("Read/Poll" in label or "KeepRunnerAwake" in label for label in labels)


def test_a_message_from_beams_pubsub_read_becomes_a_delivery_the_runner_acknowledges():
    from datetime import datetime, timezone

    from sceneline.transforms.io.pubsub_source import delivery_of_beam_message

    published = datetime(2026, 11, 21, 9, 13, 4, tzinfo=timezone.utc)
    message = beam.io.PubsubMessage(b'{"name": "x"}', {"eventType": "OBJECT_FINALIZE"}, message_id="7",
                                    publish_time=published)
    delivery = delivery_of_beam_message(message, "projects/p1/subscriptions/s1")
    assert delivery.ack_id is None  # Dataflow acknowledges, after its checkpoint
    assert (delivery.message_id, delivery.publish_time, delivery.attributes) == \
        ("7", published, {"eventType": "OBJECT_FINALIZE"})
    assert delivery.original_message()["data"] == '{"name": "x"}'
