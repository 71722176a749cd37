"""Reading and writing media through Beam FileSystems, so local paths and gs:// work alike."""

from __future__ import annotations

import os
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK_BYTES = 1 << 20


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def open_for_read(uri: str) -> BinaryIO:
    """A seekable binary stream of the object (PyAV and PIL both need to seek)."""
    if is_local(uri):
        return open(local_path(uri), "rb")
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object, creating parent folders for local paths."""
    if is_local(uri):
        path = local_path(uri)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # readers never see a half-written file
        return
    with FileSystems.create(uri, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)
