"""Uploads onto the media root: safe names, streamed in chunks, complete before they count.

A file is written as `<task id>/.<name>.part`, fsynced and then renamed, so a crash mid-upload
leaves only a part file that no record refers to, and a recorded task always has its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import unquote, urlparse

from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.settings import UPLOAD_CHUNK_BYTES
from sceneline.transforms.media.sniff import sniff_bytes

SNIFF_BYTES = 4096
MAX_NAME_CHARS = 200
_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str | None, fallback: str = "upload") -> str:
    """A client's file name as a plain name inside one folder, or a 400 saying why not.

    A name with NUL or a `..` part is refused outright (someone is probing); anything else is
    reduced to its last path part with odd characters replaced."""
    if name is None or not name.strip():
        return fallback
    name = unquote(name)  # clients percent-encode odd characters in multipart file names
    if "\x00" in name:
        raise ApiError(400, "the file name contains a NUL character")
    parts = re.split(r"[\\/]+", name)
    if any(part == ".." for part in parts):
        raise ApiError(400, f"the file name {name!r} climbs out of its folder ('..')")
    base = unicodedata.normalize("NFC", parts[-1]).strip()
    base = _UNSAFE.sub("_", base).lstrip(".")[:MAX_NAME_CHARS]
    return base or fallback


def inside(root: Path, relative: str) -> Path:
    """`root/relative`, or a 400/404 if the result would leave `root`."""
    if "\x00" in relative:
        raise ApiError(400, "the path contains a NUL character")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ApiError(400, f"the path {relative!r} leaves its folder")
    return target


@dataclass(frozen=True)
class Stored:
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class SavedMedia:
    """An upload kept on the media root (media_roots.py)."""

    uri: str  # a local path, or gs://BUCKET/NAME
    filename: str
    size: int
    sha256: str
    # A bucket object's asset id (schemas/ids.asset_id_for_object of its generation), known at once;
    # a local file's comes from its indexing run.
    asset_id: str | None = None


class CheckedUpload:
    """The chunks of an upload as they are read: the head sniffed (non-media is a 400), the size
    bounded (a 413 past `max_bytes`), the bytes hashed. Iterate it to copy the upload anywhere."""

    def __init__(self, source: BinaryIO, max_bytes: int):
        self._source = source
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        head = self._source.read(SNIFF_BYTES)
        if not head:
            raise ApiError(400, "the video file is empty")
        sniffed = sniff_bytes(head)
        if not sniffed.is_media:
            raise ApiError(400, f"the file is not a video or image (it looks like {sniffed.format})",
                           code="video_file_invalid")
        chunk = head
        while chunk:
            self.size += len(chunk)
            if self.size > self._max_bytes:
                raise ApiError(413, f"the file is larger than this server's limit of {self._max_bytes} bytes")
            self._digest.update(chunk)
            yield chunk
            chunk = self._source.read(UPLOAD_CHUNK_BYTES)


def store_stream(source: BinaryIO, folder: Path, filename: str, max_bytes: int) -> Stored:
    """Copy a stream to `folder/filename` in chunks, hashing as it goes; refuse non-media."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / filename
    part = folder / f".{filename}.part"
    upload = CheckedUpload(source, max_bytes)
    try:
        with open(part, "wb") as out:
            for chunk in upload:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Stored(final, upload.size, upload.sha256)


@contextlib.contextmanager
def read_url(url: str) -> Iterator[tuple[BinaryIO, str]]:
    """The body of a `video_url` (http or https) as a stream read in chunks, with a safe file
    name from the URL's path; a URL that cannot be read is a 400 saying why."""
    import httpx

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ApiError(400, f"video_url must be an http(s) URL, not {url!r}")
    name = safe_filename(unquote(Path(parsed.path).name), fallback="video")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            if response.status_code >= 400:
                raise ApiError(400, f"video_url answered HTTP {response.status_code}")
            yield IterReader(response.iter_bytes(UPLOAD_CHUNK_BYTES)), name
    except httpx.HTTPError as exc:
        raise ApiError(400, f"video_url could not be read: {exc}") from exc


def fetch_url(url: str, folder: Path, max_bytes: int) -> Stored:
    """Download a `video_url` (http or https) in chunks onto the media root."""
    with read_url(url) as (body, name):
        return store_stream(body, folder, name, max_bytes)


class IterReader:
    """A file-like `read(n)` over an iterator of byte chunks."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if n < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data
