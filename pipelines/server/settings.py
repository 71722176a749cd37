"""What one server needs to know: where its files live, which store and models, who may call it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sceneline.pipelines.analysis import AnalysisSettings
from sceneline.schemas.bucket_root import BucketRoot, is_bucket_uri
from sceneline.schemas.qdrant_layout import index_collection
from sceneline.schemas.settings import ServeSettings
from sceneline.transforms.models.generation import GeneratorConfig
from sceneline.transforms.store.scene_store import StoreConfig

API_PREFIX = "/v1.3"
# Largest upload accepted (TwelveLabs' own limit for a direct upload is far lower; a self-hosted
# server is bounded by its disk, so this only guards against a runaway client).
DEFAULT_MAX_UPLOAD_BYTES: int = ServeSettings.default("max_upload_bytes")
UPLOAD_CHUNK_BYTES = 1024 * 1024
DEFAULT_MULTIPART_CHUNK_BYTES: int = ServeSettings.default("multipart_chunk_bytes")


def default_index_workers() -> int:
    """Index runs at once: each decodes and runs models on about two cores."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class ServerSettings:
    """Settings of one `sceneline serve`.

    home:            the server's folder: its records (sqlite), uploads (media/), thumbnails,
                     dead letters and run outcomes.
    media_location:  --media-root: a folder (None: home/media), whose uploads this server indexes,
                     or gs://BUCKET/PREFIX, whose uploads `sceneline stream --api-media-root` indexes.
    store:           the index store; each API index is a collection named `<collection>-<index id>`.
    index_argv:      `sceneline index` options every indexing run gets (models, limits, detector).
    api_key_hashes:  hashed API keys (see auth.py); empty: no key needed (loopback only).
    signing_secret:  signs presigned media and chunk URLs; create_app sets it from the records, so
                     every replica sharing them accepts the URLs any of them hands out.
    """

    home: Path
    store: StoreConfig
    index_argv: tuple[str, ...] = ()
    api_key_hashes: tuple[str, ...] = ()
    key_salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))  # API key hashes, this process only
    signing_secret: bytes | None = None  # signs presigned URLs; None: the records' (shared by every replica)
    index_workers: int = field(default_factory=default_index_workers)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    multipart_chunk_bytes: int = DEFAULT_MULTIPART_CHUNK_BYTES  # chunk size of multipart upload sessions
    offline: bool = False  # never reach for a model hub (queries use the index's models)
    analyzer: GeneratorConfig = field(default_factory=GeneratorConfig)  # analyze, summarize, gist (issue 14)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    media_location: str | None = None

    @property
    def bucket_root(self) -> BucketRoot | None:
        """The gs:// media root, when uploads go to a bucket (the stream pipeline indexes them)."""
        return BucketRoot.parse(self.media_location) if is_bucket_uri(self.media_location) else None

    @property
    def media_root(self) -> Path:
        """The local folder uploads go to (without a bucket root)."""
        if self.media_location and not is_bucket_uri(self.media_location):
            return Path(self.media_location)
        return self.home / "media"

    @property
    def multipart_root(self) -> Path:
        """Chunks of unfinished multipart uploads as they arrive, one folder per upload session
        (kept there with a local media root; with a bucket, only while a chunk is received)."""
        return self.media_root / "multipart"

    @property
    def thumbnails(self) -> Path:
        return self.home / "thumbnails"

    def collection_for(self, index_id: str) -> str:
        return index_collection(self.store.collection, index_id)

    def store_for(self, index_id: str) -> StoreConfig:
        return StoreConfig(path=self.store.path, url=self.store.url, api_key=self.store.api_key,
                           collection=self.collection_for(index_id))
