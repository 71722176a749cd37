"""Admission: identify each input, type it from its bytes, and turn away what is not media."""

from __future__ import annotations

import hashlib
from typing import Iterator

import apache_beam as beam

from sceneline.schemas import (
    AssetRecord,
    AssetStatus,
    Failure,
    FailureStage,
    InputFile,
    MediaAsset,
    MediaError,
    MediaType,
    asset_id_for_content,
    asset_id_for_object,
)
from sceneline.schemas.ids import asset_id_for_uri
from sceneline.schemas.limits import LimitExceeded, Limits
from sceneline.transforms.media.limits import check_bytes
from sceneline.transforms.io.media_io import CHUNK_BYTES, open_for_read
from sceneline.transforms.metrics import timed
from sceneline.transforms.stages import FAILED_TAG
from sceneline.transforms.media.sniff import SNIFF_BYTES, extension_media_type, sniff_bytes

SKIPPED_TAG = "skipped"


def _pyav_decodes_video(uri: str) -> bool:
    """Last resort for formats without a known signature: does PyAV decode a video frame?"""
    import av

    try:
        with open_for_read(uri) as f, av.open(f, mode="r") as container:
            if not container.streams.video or container.format.name in ("tty", "ansi"):
                return False
            for _ in container.decode(video=0):
                return True
    except Exception:
        return False
    return False


def skipped_record(f: InputFile, reason: str) -> AssetRecord:
    return AssetRecord(
        asset_id=None, uri=f.uri, filename=f.filename, status=AssetStatus.SKIPPED,
        error_type="NotMedia", error_message=reason, size_bytes=f.size_bytes,
    )


def _content_digest(uri: str) -> tuple[str, int]:
    """sha256 and size of the whole object, read in chunks (memory stays flat)."""
    digest = hashlib.sha256()
    size = 0
    with open_for_read(uri) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def admit_input(f: InputFile, identity: str = "content", limits: Limits | None = None) -> MediaAsset | AssetRecord:
    """Admit one input file.

    Returns a MediaAsset, or a skipped AssetRecord for files that are not media and do not
    claim to be. Raises MediaError for files that claim to be media (by name) but are not.
    `identity` is "content" (asset id from a hash of the bytes) or "object" (from the bucket,
    name and generation of a Cloud Storage object). A file past `limits.max_bytes` raises
    LimitExceeded before its bytes are read.
    """
    limits = limits or Limits()
    check_bytes(f.size_bytes, limits)
    with open_for_read(f.uri) as stream:
        head = stream.read(SNIFF_BYTES)
    sniffed = sniff_bytes(head)
    media_type = sniffed.media_type
    if media_type is None and sniffed.format == "unknown" and _pyav_decodes_video(f.uri):
        media_type = MediaType.VIDEO
    if media_type is None:
        claimed = extension_media_type(f.filename)
        what = "empty (0 bytes)" if sniffed.format == "empty" else f"{sniffed.format} data"
        if claimed is not None:
            raise MediaError(f"named as {claimed.value} ({f.filename}) but the file is {what}")
        skipped = skipped_record(f, f"not a media file: {what}")
        if identity == "object" and f.bucket and f.object_name and f.generation:
            # A bucket object's id needs no content, so its status can say why it is not indexed.
            return skipped.model_copy(update={"asset_id": asset_id_for_object(f.bucket, f.object_name, f.generation)})
        return skipped

    if identity == "object":
        if not (f.bucket and f.object_name and f.generation):
            raise ValueError("object identity needs bucket, object name and generation")
        asset_id = asset_id_for_object(f.bucket, f.object_name, f.generation)
        sha, size = None, f.size_bytes if f.size_bytes is not None else len(head)
    else:
        sha, size = _content_digest(f.uri)
        check_bytes(size, limits)  # the listing may not have known the size
        asset_id = asset_id_for_content(sha)
    return MediaAsset(
        asset_id=asset_id, uri=f.uri, media_type=media_type, size_bytes=size, sha256=sha,
        bucket=f.bucket, object_name=f.object_name, generation=f.generation,
        user_metadata=f.user_metadata,
    )


class AdmitInputs(beam.DoFn):
    """InputFile -> MediaAsset; tagged outputs `failed` (Failure) and `skipped` (AssetRecord)."""

    def __init__(self, identity: str = "content", limits: Limits | None = None):
        self._identity = identity
        self._limits = limits or Limits()

    def _fallback_id(self, f: InputFile, exc: Exception) -> str:
        """An id for an input that failed admission, so its failure has a status record."""
        if self._identity == "object" and f.bucket and f.object_name and f.generation:
            return asset_id_for_object(f.bucket, f.object_name, f.generation)
        if isinstance(exc, LimitExceeded):  # never hash a file turned away for its size
            return asset_id_for_uri(f.uri)
        try:
            return asset_id_for_content(_content_digest(f.uri)[0])
        except Exception:  # unreadable: fall back to the name
            return asset_id_for_uri(f.uri)

    def process(self, f: InputFile) -> Iterator:
        try:
            with timed("admit"):
                result = admit_input(f, self._identity, self._limits)
        except Exception as exc:  # bad input must never stop the pipeline
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc, uri=f.uri, stage=FailureStage.ADMIT, asset_id=self._fallback_id(f, exc)))
            return
        if isinstance(result, AssetRecord):
            yield beam.pvalue.TaggedOutput(SKIPPED_TAG, result)
        else:
            yield result
