"""How one asset is analysed: the detector, keyframes, decoding, segments and limits.

Its own module so that analyze.py (the Beam steps) and segments.py (the per-segment work)
both read it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from sceneline.schemas.limits import Limits
from sceneline.schemas.settings import AnalysisSettings
from sceneline.transforms.media.detection import DEFAULT_DETECTOR
from sceneline.transforms.media.keyframes import KEYFRAME_MAX_SIDE
from sceneline.transforms.media.scenes import KeyframePolicy

# Videos at least twice this long are analysed in segments of about this length (segments.py).
DEFAULT_SEGMENT_S = AnalysisSettings.default("segment_s")


@dataclass(frozen=True)
class AnalysisConfig:
    detector: str = DEFAULT_DETECTOR
    keyframe_policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    keyframe_max_side: int = KEYFRAME_MAX_SIDE
    decode_threads: int = 0
    max_frames: int | None = None  # stop decoding here (a sample), unlike limits.max_frames (fail)
    hwaccel: str | None = None  # e.g. "cuda": decode on the GPU where there is one
    segment_s: float = DEFAULT_SEGMENT_S  # 0: never split a video
    limits: Limits = field(default_factory=Limits)
