"""API keys: stored only as salted scrypt hashes, checked in constant time.

The plain keys given on the command line are hashed at start and forgotten; the salt is
random per server process, so the hashes in memory are worthless anywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from sceneline.pipelines.server.errors import ApiError

KEY_HEADER = "x-api-key"
_SCRYPT = dict(n=2**12, r=8, p=1, dklen=32)  # cheap enough per request, far from a plain hash


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def hash_key(key: str, salt: bytes) -> str:
    return hashlib.scrypt(key.encode(), salt=salt, **_SCRYPT).hex()


# Keys already verified, by a fast salted digest, so a busy client pays scrypt once.
_verified: set[str] = set()
_VERIFIED_MAX = 1024


def key_matches(key: str, hashes: tuple[str, ...], salt: bytes) -> bool:
    quick = hashlib.sha256(salt + key.encode()).hexdigest()
    if quick in _verified:
        return True
    candidate = hash_key(key, salt)
    # Compare with every hash (no early exit), each in constant time.
    ok = bool(sum(hmac.compare_digest(candidate, h) for h in hashes))
    if ok and len(_verified) < _VERIFIED_MAX:
        _verified.add(quick)
    return ok


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 in TwelveLabs' shape unless `x-api-key` holds a configured key."""
    settings = request.app.state.settings
    if not settings.api_key_hashes:
        return  # no key configured: the server listens on loopback only
    key = request.headers.get(KEY_HEADER)
    if not key:
        raise ApiError(401, f"no API key: send it in the {KEY_HEADER} header", code="api_key_invalid")
    if not key_matches(key, settings.api_key_hashes, settings.key_salt):
        raise ApiError(401, "the API key is not valid", code="api_key_invalid")
