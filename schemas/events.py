"""Bucket events: Pub/Sub deliveries, the Cloud Storage notifications they carry, and what each
event led to.

A Cloud Storage notification (payload format JSON_API_V1) puts the event in the message
attributes (bucketId, objectId, eventType, objectGeneration, overwroteGeneration or
overwrittenByGeneration) and the object resource, as JSON, in the data.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sceneline.schemas.assets import AssetRecord, AssetStatus, InputFile
from sceneline.schemas.ids import asset_id_for_object

SUBSCRIPTION_PATTERN = re.compile(r"^projects/(?P<project>[^/]+)/subscriptions/(?P<name>[^/]+)$")
TOPIC_PATTERN = re.compile(r"^projects/(?P<project>[^/]+)/topics/(?P<name>[^/]+)$")


class PubsubDelivery(BaseModel):
    """One delivery of a Pub/Sub message (a redelivery is another delivery of the same message id)."""

    subscription: str
    message_id: str
    data: bytes = Field(default=b"", repr=False)
    attributes: dict[str, str] = Field(default_factory=dict)
    publish_time: datetime | None = None
    # Set when sceneline acknowledges the message itself (the local runner); None where the
    # runner does (Dataflow acknowledges once its read is durably checkpointed).
    ack_id: str | None = Field(default=None, repr=False)

    def original_message(self) -> dict[str, Any]:
        """The message as received, for dead letters: data as text when it is UTF-8."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "publish_time": self.publish_time.isoformat() if self.publish_time else None,
            "attributes": dict(self.attributes),
        }
        try:
            message["data"] = self.data.decode("utf-8")
        except UnicodeDecodeError:
            message["data_base64"] = base64.b64encode(self.data).decode("ascii")
        return message


class EventType(str, Enum):
    FINALIZE = "OBJECT_FINALIZE"
    DELETE = "OBJECT_DELETE"
    ARCHIVE = "OBJECT_ARCHIVE"  # a live version became noncurrent (versioned buckets)
    METADATA_UPDATE = "OBJECT_METADATA_UPDATE"

    @property
    def removes_object(self) -> bool:
        return self in (EventType.DELETE, EventType.ARCHIVE)


class NotificationError(ValueError):
    """A message that is not a well-formed Cloud Storage notification; the text says why."""


class ObjectResource(BaseModel):
    """The parts of the object resource (the notification's data) sceneline uses."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    bucket: str
    name: str
    generation: str
    size: int | None = None
    content_type: str | None = Field(default=None, alias="contentType")
    metadata: dict[str, str] | None = None


_GENERATION = re.compile(r"^[0-9]+$")


class BucketNotification(BaseModel):
    """A Cloud Storage notification, checked: attributes and object resource agree. Fields take
    the attribute names as aliases, so errors name the attribute at fault."""

    model_config = ConfigDict(populate_by_name=True)

    event_type: EventType = Field(alias="eventType")
    bucket: str = Field(alias="bucketId")
    object_name: str = Field(alias="objectId")
    generation: str = Field(alias="objectGeneration")
    overwrote_generation: str | None = Field(default=None, alias="overwroteGeneration")
    overwritten_by_generation: str | None = Field(default=None, alias="overwrittenByGeneration")
    event_time: datetime | None = Field(default=None, alias="eventTime")
    resource: ObjectResource | None = None

    @field_validator("generation", "overwrote_generation", "overwritten_by_generation")
    @classmethod
    def _generation_is_a_number(cls, value: str | None) -> str | None:
        if value is not None and not _GENERATION.match(value):
            raise ValueError(f"a generation is a decimal number, not {value!r}")
        return value

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}"

    @property
    def filename(self) -> str:
        return posixpath.basename(self.object_name)

    @property
    def asset_id(self) -> str:
        return asset_id_for_object(self.bucket, self.object_name, self.generation)

    @property
    def is_hidden(self) -> bool:
        """A name with a part starting with "." (e.g. .sceneline/thumbnails/...): skipped, as batch
        listings skip hidden files, so thumbnails written into the same bucket never loop back."""
        return any(part.startswith(".") for part in self.object_name.split("/"))

    @property
    def is_overwrite(self) -> bool:
        """The removal of a version that a new upload replaced (its scenes go when the new one is in)."""
        return self.event_type.removes_object and self.overwritten_by_generation is not None

    def input_file(self) -> InputFile:
        resource = self.resource
        return InputFile(
            uri=self.uri, size_bytes=resource.size if resource else None, bucket=self.bucket,
            object_name=self.object_name, generation=self.generation,
            user_metadata=dict(resource.metadata or {}) if resource else {})

    @classmethod
    def from_delivery(cls, delivery: PubsubDelivery) -> "BucketNotification":
        """Parse and check a notification; raises NotificationError naming what is wrong."""
        attrs = delivery.attributes
        missing = [a for a in ("bucketId", "objectId", "eventType", "objectGeneration") if not attrs.get(a)]
        if missing:
            raise NotificationError(f"not a Cloud Storage notification: attribute(s) {', '.join(missing)} missing")
        known = {e.value for e in EventType}
        if attrs["eventType"] not in known:
            raise NotificationError(f"unknown eventType {attrs['eventType']!r} (expected one of {sorted(known)})")
        payload_format = attrs.get("payloadFormat", "JSON_API_V1")
        resource = None
        if payload_format == "JSON_API_V1":
            resource = _object_resource(delivery.data)
            for attr, value in (("bucketId", resource.bucket), ("objectId", resource.name),
                                ("objectGeneration", resource.generation)):
                if attrs[attr] != value:
                    raise NotificationError(f"attribute {attr}={attrs[attr]!r} disagrees with the object "
                                            f"resource in the data ({value!r})")
        elif payload_format != "NONE":
            raise NotificationError(f"unknown payloadFormat {payload_format!r} (expected JSON_API_V1 or NONE)")
        try:
            return cls.model_validate({**attrs, "resource": resource})
        except ValidationError as exc:
            raise NotificationError(f"malformed notification: {_first_error(exc)}") from None


def _object_resource(data: bytes) -> ObjectResource:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationError(f"the data is not the JSON object resource of payload format JSON_API_V1: {exc}") \
            from None
    if not isinstance(parsed, dict):
        raise NotificationError("the data is JSON but not an object resource")
    try:
        return ObjectResource.model_validate(parsed)
    except ValidationError as exc:
        raise NotificationError(f"the object resource in the data is malformed: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "value"
    return f"{where}: {error.get('msg')}"


class OutcomeKind(str, Enum):
    INDEXED = "indexed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not media
    DELETED = "deleted"  # removed, or replaced by a newer generation
    DUPLICATE = "duplicate"  # a redelivery of an event already handled: nothing to do
    IGNORED = "ignored"  # an event that changes nothing in the index (metadata, overwrite)
    REJECTED = "rejected"  # not a well-formed notification: dead-lettered


_KIND_OF_STATUS = {
    AssetStatus.INDEXED: OutcomeKind.INDEXED,
    AssetStatus.FAILED: OutcomeKind.FAILED,
    AssetStatus.SKIPPED: OutcomeKind.SKIPPED,
    AssetStatus.DELETED: OutcomeKind.DELETED,
}


class EventOutcome(BaseModel):
    """What one delivered event led to, known (and recorded) before its message is acknowledged."""

    kind: OutcomeKind
    uri: str | None = None
    asset_id: str | None = None
    scene_count: int | None = None
    detail: str | None = None

    @classmethod
    def of_record(cls, record: AssetRecord) -> "EventOutcome":
        if record.status is AssetStatus.FAILED and record.stage == "event":
            kind = OutcomeKind.REJECTED
        else:
            kind = _KIND_OF_STATUS.get(record.status, OutcomeKind.FAILED)
        detail = f"[{record.stage}] {record.error_message}" if record.stage else record.error_message
        return cls(kind=kind, uri=record.uri, asset_id=record.asset_id, scene_count=record.scene_count,
                   detail=detail)
