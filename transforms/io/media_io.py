"""Reading and writing media through Beam FileSystems, so local paths and gs:// work alike.

Beam is imported only for a URI that needs it: importing it costs over a second of CPU, which
`sceneline detect` of a local file would otherwise pay before its first frame.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
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
    from apache_beam.io.filesystem import CompressionTypes

    return _file_systems().open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


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
    from apache_beam.io.filesystem import CompressionTypes

    with _file_systems().create(uri, mime_type="application/octet-stream",
                                compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def join(base: str, *parts: str) -> str:
    return _file_systems().join(base, *parts)


def _file_systems() -> type[FileSystems]:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems
