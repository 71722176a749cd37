"""A gs://BUCKET/PREFIX that `sceneline serve` uploads into and `sceneline stream` indexes from.

The layout is the contract between the two: an upload of the API index INDEX lies at
`PREFIX/INDEX/<task id>/<file name>`, so the stream can tell from an object's name which index
(and so which collection) it belongs to. Names with a part starting with "." are hidden: the
stream skips them, so the server keeps uploaded assets not yet in an index under `PREFIX/.assets/`,
and a stream given `--thumbnails gs://BUCKET/PREFIX/.thumbnails` writes thumbnails the server
can serve without them looping back into the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sceneline.schemas.failures import UserError

SCHEME = "gs://"
ASSETS_FOLDER = ".assets"
THUMBNAILS_FOLDER = ".thumbnails"
MULTIPART_FOLDER = ".multipart"  # chunks of unfinished multipart uploads (the server's; the stream skips them)
# Bucket names: 3-63 (222 with dots) lowercase letters, digits, -, _ and . (Cloud Storage's rules).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")
# An index id becomes part of a collection name: kept to characters every store accepts.
_INDEX_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BucketRootError(UserError, ValueError):
    """A media root that is not gs://BUCKET or gs://BUCKET/PREFIX."""


def is_bucket_uri(text: str | None) -> bool:
    return bool(text) and text.startswith(SCHEME)


@dataclass(frozen=True)
class BucketRoot:
    bucket: str
    prefix: str = ""  # without leading or trailing "/"; "" is the whole bucket

    @classmethod
    def parse(cls, text: str) -> "BucketRoot":
        if not is_bucket_uri(text):
            raise BucketRootError(f"a bucket media root is gs://BUCKET or gs://BUCKET/PREFIX, not {text!r}")
        bucket, _, prefix = text[len(SCHEME):].partition("/")
        prefix = prefix.strip("/")
        if not _BUCKET.match(bucket):
            raise BucketRootError(f"{bucket!r} is not a Cloud Storage bucket name (in {text!r})")
        if prefix and any(not part or part.startswith(".") for part in prefix.split("/")):
            # A part starting with "." would hide every upload from the stream (see above).
            raise BucketRootError(f"the prefix of {text!r} has an empty part or one starting with '.'")
        return cls(bucket, prefix)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def object_name(self, *parts: str) -> str:
        """The name of an object under the root (parts are already safe names)."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def object_uri(self, *parts: str) -> str:
        return f"{SCHEME}{self.bucket}/{self.object_name(*parts)}"

    def relative(self, uri: str) -> str | None:
        """The part of `uri` below the root, or None when it lies elsewhere."""
        head = self.uri + "/"
        return uri[len(head):] if uri.startswith(head) else None

    def thumbnail_of(self, uri: str) -> str | None:
        """The name of a thumbnail below ROOT/.thumbnails/ (as the server's URLs carry it), or None."""
        rest = self.relative(uri)
        head = f"{THUMBNAILS_FOLDER}/"
        return rest[len(head):] if rest is not None and rest.startswith(head) else None

    def index_of(self, uri: str) -> str | None:
        """The API index an object belongs to: the first folder below the root, when the object lies
        in one (ROOT/INDEX/.../name) and the folder is an index id; None otherwise."""
        rest = self.relative(uri)
        if rest is None or "/" not in rest:
            return None
        index_id = rest.split("/", 1)[0]
        return index_id if _INDEX_ID.match(index_id) else None
