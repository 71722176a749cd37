"""Uploads onto the media root: safe names, streamed in chunks, complete before they count.

A file is written as `<task id>/.<name>.part`, fsynced and then renamed, so a crash mid-upload
leaves only a part file that no record refers to, and a recorded task always has its bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
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


def store_stream(source: BinaryIO, folder: Path, filename: str, max_bytes: int) -> Stored:
    """Copy a stream to `folder/filename` in chunks, hashing as it goes; refuse non-media."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / filename
    part = folder / f".{filename}.part"
    digest, size = hashlib.sha256(), 0
    try:
        with open(part, "wb") as out:
            head = source.read(SNIFF_BYTES)
            if not head:
                raise ApiError(400, "the video file is empty")
            sniffed = sniff_bytes(head)
            if not sniffed.is_media:
                raise ApiError(400, f"the file is not a video or image (it looks like {sniffed.format})",
                               code="video_file_invalid")
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(413, f"the file is larger than this server's limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                chunk = source.read(UPLOAD_CHUNK_BYTES)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Stored(final, size, digest.hexdigest())


def fetch_url(url: str, folder: Path, max_bytes: int) -> Stored:
    """Download a `video_url` (http or https) in chunks onto the media root."""
    import httpx

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ApiError(400, f"video_url must be an http(s) URL, not {url!r}")
    name = safe_filename(unquote(Path(parsed.path).name), fallback="video")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            if response.status_code >= 400:
                raise ApiError(400, f"video_url answered HTTP {response.status_code}")
            return store_stream(IterReader(response.iter_bytes(UPLOAD_CHUNK_BYTES)), folder, name, max_bytes)
    except httpx.HTTPError as exc:
        raise ApiError(400, f"video_url could not be read: {exc}") from exc


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
