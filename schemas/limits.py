"""Limits on what one asset may cost: bytes, duration, pixels, frames and time.

An asset past a limit fails, with a reason that names the limit and the flag that changes it;
the rest of the run goes on. The same numbers guard every place they apply (transforms/media/limits.py):
bytes at admission, pixels and the claimed duration at probe, frames, duration and time while
decoding, and an image's pixels before it is decoded.
"""

from __future__ import annotations

from pydantic import BaseModel

from sceneline.schemas.failures import MediaError

GIB = 2**30


class Limits(BaseModel, frozen=True):
    max_bytes: int = 64 * GIB  # a 2-hour 4K master is tens of GiB
    max_duration_s: float = 2 * 3600.0
    max_pixels: int = 100_000_000  # per frame or image: 8K video is 33 MP, a 10000 x 10000 scan 100 MP
    max_frames: int = 1_000_000  # decoded per asset: 2 hours at 120 fps is 864,000
    time_budget_s: float = 3600.0  # wall-clock seconds to analyse one asset (per segment of a long video)


# Each limit's Beam option (pipelines/options.py); the CLI spells it with dashes.
LIMIT_FLAGS: dict[str, str] = {
    "max_bytes": "max_bytes",
    "max_duration_s": "max_duration_s",
    "max_pixels": "max_pixels",
    "max_frames": "max_frames",
    "time_budget_s": "asset_time_budget_s",
}


class LimitExceeded(MediaError):
    """The asset is past a configured limit; the message names the limit and its flag."""

    def __init__(self, limit: str, what: str, allowed: float | int):
        self.limit = limit
        flag = "--" + LIMIT_FLAGS[limit].replace("_", "-")
        super().__init__(f"{what}, over the {limit} limit of {_plain(allowed)} (change it with {flag})")


def _plain(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
