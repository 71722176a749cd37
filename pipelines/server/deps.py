"""FastAPI dependencies: the server's parts, looked up on the app, and common checks."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from fastapi import Request

from sceneline.pipelines.server.auth import require_api_key
from sceneline.pipelines.server.errors import ApiError, not_found
from sceneline.pipelines.server.indexer import Indexing
from sceneline.pipelines.server.media_roots import MediaRoot
from sceneline.pipelines.server.records import IndexRow, Records, VideoRow
from sceneline.pipelines.server.settings import ServerSettings


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def get_records(request: Request) -> Records:
    return request.app.state.records


def get_indexer(request: Request) -> Indexing:
    return request.app.state.indexer


def get_media(request: Request) -> MediaRoot:
    return request.app.state.media


def existing_index(records: Records, index_id: str) -> IndexRow:
    index = records.index(index_id)
    if index is None:
        raise not_found("index", index_id)
    return index


def existing_video(records: Records, index_id: str, video_id: str) -> VideoRow:
    existing_index(records, index_id)
    video = records.video(video_id)
    if video is None or video.index_id != index_id:
        raise not_found("video", video_id)
    return video


def media_url(request: Request, path: str) -> str:
    """An absolute, presigned URL on this server, as the client reached it: a browser's <img> or
    <video> can fetch it without the API key (like TwelveLabs' presigned URLs)."""
    return presigned_url(request, path)


def presigned_url(request: Request, path: str, expires: Optional[int] = None) -> str:
    """`media_url`, or with `expires` (Unix seconds) one that stops working then (multipart chunk URLs)."""
    query = "" if expires is None else f"expires={expires}&"
    return (str(request.base_url).rstrip("/") + path + "?" + query
            + "sig=" + sign(request.app.state.settings.signing_secret, path, expires))


def thumbnail_url(request: Request, settings: ServerSettings, uri: Optional[str]) -> Optional[str]:
    """The presigned URL of a scene's thumbnail, when it lies where this server serves thumbnails
    from: its thumbnails folder, or .thumbnails/ in its bucket media root."""
    if not uri:
        return None
    if uri.startswith("gs://"):
        root = settings.bucket_root
        name = root.thumbnail_of(uri) if root is not None else None
    else:
        try:
            name = Path(uri).resolve().relative_to(settings.thumbnails.resolve()).as_posix()
        except ValueError:
            name = None
    return media_url(request, f"/v1.3/media/thumbnails/{name}") if name else None


def sign(secret: bytes, path: str, expires: Optional[int] = None) -> str:
    """HMAC over the path (and the expiry, when the URL has one) with the records' signing secret:
    every replica sharing the records signs alike. One server's sqlite records make a new secret per
    process, so its presigned URLs stop working when it restarts."""
    message = path if expires is None else f"{path}?expires={expires}"
    return hmac.new(secret + b"media", message.encode(), hashlib.sha256).hexdigest()[:32]


def require_live_signature(request: Request) -> None:
    """Presigned upload URLs (multipart chunks): a `sig` over the path and `expires`, not yet past;
    else a 403. The API key is not asked for: whoever holds the URL may send the bytes, as with S3."""
    settings = request.app.state.settings
    expires_text, given = request.query_params.get("expires", ""), request.query_params.get("sig", "")
    if not (expires_text.isascii() and expires_text.isdigit()) or not given:
        raise ApiError(403, "this URL is not presigned: it needs its expires and sig parameters",
                       code="signature_invalid")
    if not hmac.compare_digest(given, sign(settings.signing_secret, request.url.path, int(expires_text))):
        raise ApiError(403, "the URL's signature does not match (altered, or signed before the server restarted: "
                            "ask for new presigned URLs)", code="signature_invalid")
    if int(expires_text) < time.time():
        raise ApiError(403, "the presigned URL has expired: ask for new presigned URLs", code="url_expired")


def require_key_or_signature(request: Request) -> None:
    """Media routes: a valid `sig` (from a URL this server handed out) or the API key."""
    settings = request.app.state.settings
    given = request.query_params.get("sig")
    if given and hmac.compare_digest(given, sign(settings.signing_secret, request.url.path)):
        return
    require_api_key(request)


async def only_fields(request: Request, allowed: Iterable[str]) -> None:
    """Multipart forms: a field the route does not know is a 400 naming it."""
    form = await request.form()
    unknown = sorted(set(form.keys()) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")


def parse_json_object(text: Optional[str], name: str) -> Optional[dict[str, Any]]:
    """A form field that must hold a JSON object (e.g. `filter`, `user_metadata`)."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"{name} is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be a JSON object, not {type(value).__name__}")
    return value


def check_metadata_values(metadata: dict[str, Any], name: str = "user_metadata") -> dict[str, Any]:
    for key, value in metadata.items():
        if not key or "\x00" in key:
            raise ApiError(400, f"{name}: a key must be a non-empty name")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ApiError(400, f"{name}.{key}: values are strings, numbers or booleans, not {type(value).__name__}")
    return metadata
