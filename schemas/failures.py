"""Failures: every input that cannot be indexed ends as one of these, never silently dropped."""

from __future__ import annotations

import errno
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from sceneline.schemas.assets import utc_now


class FailureStage(str, Enum):
    ADMIT = "admit"
    PROBE = "probe"
    DECODE = "decode"
    DETECT = "detect"
    KEYFRAMES = "keyframes"
    EMBED = "embed"
    OCR = "ocr"
    CAPTION = "caption"
    EMBED_TEXT = "embed_text"
    TRANSCRIBE = "transcribe"
    THUMBNAILS = "thumbnails"
    WRITE = "write"
    EVENT = "event"  # a bucket event message that could not be read
    DELETE = "delete"  # removing a deleted object's scenes


class MediaError(Exception):
    """The input itself is bad (empty, truncated, not media, no video stream ...).

    Retrying cannot help; the message says what is wrong in words a user understands.
    """

    retryable = False


_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED, errno.EPIPE}


def is_retryable(exc: BaseException) -> bool:
    """Whether a retry may help: transient I/O and network trouble, not bad media or bugs."""
    if isinstance(exc, MediaError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return bool(getattr(exc, "retryable", False))


class Failure(BaseModel):
    """A dead letter: which asset, which stage, what went wrong, and whether a retry may help."""

    asset_id: str | None = None
    uri: str
    stage: FailureStage
    error_type: str
    message: str
    retryable: bool = False
    at: datetime = Field(default_factory=utc_now)
    original_message: dict[str, Any] | None = None  # the raw event, for streaming dead letters

    @classmethod
    def from_exception(
        cls, exc: BaseException, *, uri: str, stage: FailureStage, asset_id: str | None = None
    ) -> "Failure":
        message = str(exc) or repr(exc)
        return cls(
            asset_id=asset_id,
            uri=uri,
            stage=stage,
            error_type=type(exc).__name__,
            message=message[:2000],
            retryable=is_retryable(exc),
        )
