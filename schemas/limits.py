"""Limits on what one asset may cost: bytes, duration, pixels, frames and time.

An asset past a limit fails, with a reason that names the limit and the flag that changes it;
the rest of the run goes on. The same numbers guard every place they apply (transforms/media/limits.py):
bytes at admission, pixels and the claimed duration at probe, frames, duration and time while
decoding, and an image's pixels before it is decoded.
"""

from __future__ import annotations

from pydantic import Field

from sceneline.schemas.failures import MediaError
from sceneline.schemas.settings import SettingsGroup

GIB = 2**30


class Limits(SettingsGroup):
    """Limits on one asset (an asset past one fails, naming it)."""

    max_bytes: int = Field(64 * GIB, gt=0, description="Largest file, in bytes.")  # a 4K master is tens of GiB
    max_duration_s: float = Field(
        2 * 3600.0, gt=0, description="Longest video, in seconds (stated by the container or reached while decoding).")
    # per frame or image: 8K video is 33 MP, a 10000 x 10000 scan 100 MP
    max_pixels: int = Field(100_000_000, gt=0,
                            description="Most pixels in one frame or image (also Pillow's decompression-bomb guard).")
    # decoded per asset: 2 hours at 120 fps is 864,000
    max_frames: int = Field(1_000_000, gt=0, description="Most frames decoded from one video.")
    time_budget_s: float = Field(
        3600.0, ge=0, description="Longest time to analyse one asset, in seconds (each segment of a long video).",
        json_schema_extra={"flag": "asset_time_budget_s"})


# Each limit's Beam option (pipelines/options.py); the CLI spells it with dashes.
LIMIT_FLAGS: dict[str, str] = {name: Limits.flag(name) for name in Limits.model_fields}


class LimitExceeded(MediaError):
    """The asset is past a configured limit; the message names the limit and its flag."""

    def __init__(self, limit: str, what: str, allowed: float | int):
        self.limit = limit
        flag = "--" + LIMIT_FLAGS[limit].replace("_", "-")
        super().__init__(f"{what}, over the {limit} limit of {_plain(allowed)} (change it with {flag})")


def _plain(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
