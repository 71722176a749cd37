"""The stream's dead letters: every failure, with the message that brought it, written to a
folder (one JSON file each) or published to a Pub/Sub topic before the message is acknowledged.

A file is named by the asset id (or, for a message that is not a notification, the message id),
so a redelivered message that fails again rewrites its letter instead of adding one. A topic
cannot be deduplicated that way: each letter carries the attribute `dead_letter_id` for readers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, Protocol

import apache_beam as beam

from sceneline.schemas import Failure
from sceneline.schemas.events import SUBSCRIPTION_PATTERN, TOPIC_PATTERN, PubsubDelivery
from sceneline.transforms.io.media_io import join, write_bytes
from sceneline.transforms.stages import with_retries

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 60


class DeadLetterSink(Protocol):
    def write(self, letter: Failure, letter_id: str) -> None: ...


class FolderDeadLetters:
    def __init__(self, folder: str):
        self.folder = folder

    def write(self, letter: Failure, letter_id: str) -> None:
        write_bytes(join(self.folder, f"{letter_id}.json"), letter.model_dump_json(indent=2).encode())


_publishers: dict[str, Any] = {}
_publishers_lock = threading.Lock()


class TopicDeadLetters:
    def __init__(self, topic: str):
        self.topic = topic

    def _publisher(self) -> Any:
        from google.cloud import pubsub_v1

        with _publishers_lock:
            if self.topic not in _publishers:
                _publishers[self.topic] = pubsub_v1.PublisherClient()
            return _publishers[self.topic]

    def write(self, letter: Failure, letter_id: str) -> None:
        attributes = {"dead_letter_id": letter_id, "stage": letter.stage.value, "error_type": letter.error_type,
                      "uri": letter.uri, "asset_id": letter.asset_id or ""}
        future = self._publisher().publish(self.topic, letter.model_dump_json().encode(), **attributes)
        future.result(timeout=PUBLISH_TIMEOUT_S)  # written means the topic has it


def dead_letter_sink(target: str, subscription: str) -> DeadLetterSink:
    """A topic (projects/P/topics/T), or a folder or gs:// prefix (a subfolder per subscription)."""
    if TOPIC_PATTERN.match(target):
        return TopicDeadLetters(target)
    match = SUBSCRIPTION_PATTERN.match(subscription)
    name = match.group("name") if match else "subscription"
    return FolderDeadLetters(join(target, f"stream-{name}"))


def letter_id(letter: Failure, delivery: PubsubDelivery) -> str:
    return letter.asset_id or f"message-{delivery.message_id}"


class WriteDeadLetters(beam.DoFn):
    """(delivery, Failure) -> (delivery, the failure with its original message), once written.

    A letter that cannot be written is not passed on, so its message is not acknowledged and
    comes again."""

    def __init__(self, target: str, subscription: str):
        super().__init__()
        self._target = target
        self._subscription = subscription
        self._sink: DeadLetterSink | None = None

    def setup(self) -> None:
        self._sink = dead_letter_sink(self._target, self._subscription)

    def process(self, keyed: tuple[PubsubDelivery, Failure]) -> Iterator:
        delivery, failure = keyed
        letter = failure.model_copy(update={"original_message": delivery.original_message()})
        try:
            with_retries(lambda: self._sink.write(letter, letter_id(letter, delivery)))
        except Exception as exc:
            log.error("could not write the dead letter of %s (message %s stays unacknowledged): %s",
                      failure.uri, delivery.message_id, exc)
            return
        yield delivery, letter
