"""`sceneline setup-bucket`: what a stream needs in Google Cloud, made once and idempotently.

    bucket --notification (JSON_API_V1: finalize, delete, archive)--> topic --> subscription
                                                  dead-letter topic <-- (after N delivery attempts)

Each step says whether it made the resource or found it. The same works against the Pub/Sub
emulator (which has no IAM; the grants are skipped there).
"""

from __future__ import annotations

from dataclasses import dataclass

from sceneline.transforms.io.gcp_env import PUBSUB_EMULATOR_ENV, storage_emulator

NOTIFIED_EVENTS = ("OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE")
PAYLOAD_FORMAT = "JSON_API_V1"


@dataclass(frozen=True)
class BucketSetup:
    project: str
    bucket: str
    topic: str
    subscription: str
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = 5
    ack_deadline_s: int = 60
    prefix: str | None = None
    notification: bool = True

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    @property
    def dead_letter_topic_path(self) -> str | None:
        return f"projects/{self.project}/topics/{self.dead_letter_topic}" if self.dead_letter_topic else None


def _on_emulator() -> bool:
    import os

    return bool(os.environ.get(PUBSUB_EMULATOR_ENV))


def _ensure_topic(publisher, path: str) -> str:
    from google.api_core.exceptions import AlreadyExists

    try:
        publisher.create_topic(name=path)
        return f"created topic {path}"
    except AlreadyExists:
        return f"topic {path} exists"


def _ensure_subscription(subscriber, setup: BucketSetup) -> str:
    from google.api_core.exceptions import AlreadyExists

    request = {"name": setup.subscription_path, "topic": setup.topic_path,
               "ack_deadline_seconds": setup.ack_deadline_s}
    if setup.dead_letter_topic_path:
        request["dead_letter_policy"] = {"dead_letter_topic": setup.dead_letter_topic_path,
                                         "max_delivery_attempts": setup.max_delivery_attempts}
    try:
        subscriber.create_subscription(request=request)
        return f"created subscription {setup.subscription_path}"
    except AlreadyExists:
        return f"subscription {setup.subscription_path} exists (left as it is)"


def _grant_publisher(publisher, topic_path: str, member: str) -> str:
    """Let `member` publish to the topic (Cloud Storage's service agent, for notifications)."""
    policy = publisher.get_iam_policy(request={"resource": topic_path})
    role = "roles/pubsub.publisher"
    for binding in policy.bindings:
        if binding.role == role and member in binding.members:
            return f"{member} may already publish to {topic_path}"
    policy.bindings.add(role=role, members=[member])
    publisher.set_iam_policy(request={"resource": topic_path, "policy": policy})
    return f"granted {role} on {topic_path} to {member}"


def _ensure_notification(storage_client, setup: BucketSetup) -> str:
    bucket = storage_client.bucket(setup.bucket)
    for existing in bucket.list_notifications():
        if (existing.topic_name == setup.topic and existing.topic_project == setup.project
                and existing.payload_format == PAYLOAD_FORMAT
                and (existing.blob_name_prefix or None) == setup.prefix):
            return f"gs://{setup.bucket} already notifies {setup.topic_path} (notification {existing.notification_id})"
    notification = bucket.notification(topic_name=setup.topic, topic_project=setup.project,
                                       event_types=list(NOTIFIED_EVENTS), payload_format=PAYLOAD_FORMAT,
                                       blob_name_prefix=setup.prefix)
    notification.create()
    return f"gs://{setup.bucket} now notifies {setup.topic_path} (notification {notification.notification_id})"


def storage_client(project: str):
    from google.cloud import storage

    if storage_emulator():
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client(project=project)


def setup_bucket(setup: BucketSetup) -> list[str]:
    """Make (or find) the topics, the subscription and the bucket notification; returns what
    each step did, in order."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    steps = [_ensure_topic(publisher, setup.topic_path)]
    if setup.dead_letter_topic_path:
        steps.append(_ensure_topic(publisher, setup.dead_letter_topic_path))
    with pubsub_v1.SubscriberClient() as subscriber:
        steps.append(_ensure_subscription(subscriber, setup))
    if setup.notification:
        storage = storage_client(setup.project)
        if not _on_emulator():
            agent = storage.get_service_account_email(project=setup.project)
            steps.append(_grant_publisher(publisher, setup.topic_path, f"serviceAccount:{agent}"))
        steps.append(_ensure_notification(storage, setup))
    if setup.dead_letter_topic_path and not _on_emulator():
        steps.append("to forward undeliverable messages, Pub/Sub's service agent "
                     "(service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com) needs roles/pubsub.publisher "
                     f"on {setup.dead_letter_topic_path} and roles/pubsub.subscriber on {setup.subscription_path} "
                     "(see docs/streaming.md, Setting up a bucket)")
    return steps
