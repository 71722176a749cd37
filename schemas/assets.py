"""Assets: what enters the pipeline, what probing learns about it, and its status record."""

from __future__ import annotations

import posixpath
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class MediaType(str, Enum):
    VIDEO = "video"
    IMAGE = "image"


class AssetStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    INDEXED = "indexed"
    FAILED = "failed"
    SKIPPED = "skipped"
    DELETED = "deleted"

    @property
    def is_terminal(self) -> bool:
        return self in (AssetStatus.INDEXED, AssetStatus.FAILED, AssetStatus.SKIPPED, AssetStatus.DELETED)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Located(BaseModel):
    """Where an input lives: its URI and, when it came from a bucket event, its Cloud Storage
    identity; and the metadata its uploader gave it."""

    uri: str
    bucket: str | None = None
    object_name: str | None = None
    generation: str | None = None
    user_metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def filename(self) -> str:
        return posixpath.basename(self.uri.rstrip("/"))


class InputFile(_Located):
    """One file or object found by listing (or named by a bucket event), before it is read."""

    size_bytes: int | None = None


class MediaAsset(_Located):
    """An admitted input: identified, typed from its bytes, ready to analyse."""

    asset_id: str
    media_type: MediaType
    size_bytes: int
    sha256: str | None = None


class AudioStreamInfo(BaseModel):
    codec: str | None = None
    channels: int | None = None
    sample_rate: int | None = None
    language: str | None = None


class ProbeInfo(BaseModel):
    """What the container claims, cross-checked against what actually decodes."""

    container: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    # Width and height as shown (non-square pixels and rotation applied).
    display_width: int | None = None
    display_height: int | None = None
    display_aspect: float | None = None
    sample_aspect: float | None = None
    rotation: int = 0
    avg_fps: float | None = None
    real_fps: float | None = None
    duration_s: float | None = None  # the best estimate; after decoding, what decoded
    claimed_duration_s: float | None = None  # what the container header said, if anything
    claimed_frames: int | None = None
    decoded_frames: int | None = None
    decode_errors: int = 0
    bitrate: int | None = None
    size_bytes: int | None = None
    pixel_format: str | None = None
    audio_streams: list[AudioStreamInfo] = Field(default_factory=list)
    image_format: str | None = None
    animated_frames: int | None = None
    warnings: list[str] = Field(default_factory=list)


class AssetRecord(BaseModel):
    """An asset's status, as stored beside its scenes (one store holds the whole index).

    Skipped inputs (not media) get a record too, for the run summary; a local file's has no
    asset id and no place in the store, a bucket object's has both (its id needs no content).
    """

    asset_id: str | None
    uri: str
    filename: str
    media_type: MediaType | None = None
    status: AssetStatus
    scene_count: int | None = None
    stage: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    retryable: bool | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    generation: str | None = None
    run_id: str | None = None
    updated_at: datetime = Field(default_factory=utc_now)

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "AssetRecord":
        return cls.model_validate(payload)
