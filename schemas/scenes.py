"""Scenes: the unit every search returns, each a time range of an asset with keyframes."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from sceneline.schemas.assets import MediaAsset, ProbeInfo
from sceneline.schemas.speech import SpeechSegment


class TransitionKind(str, Enum):
    START = "start"  # the first scene of an asset
    CUT = "cut"
    DISSOLVE = "dissolve"
    FADE = "fade"


class Keyframe(BaseModel):
    """A representative frame: its time, its frame index and the image as JPEG bytes.

    JPEG keeps elements small between stages (and across workers); the same bytes serve the
    embedding models and the thumbnail.
    """

    time_s: float
    frame: int
    jpeg: bytes = Field(repr=False)
    width: int
    height: int


class Scene(BaseModel):
    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int  # inclusive
    transition_in: TransitionKind = TransitionKind.START
    keyframes: list[Keyframe] = Field(default_factory=list)
    thumbnail_uri: str | None = None
    # Filled in by the model stages; absent when a model is disabled.
    vectors: dict[str, list[float]] = Field(default_factory=dict, repr=False)
    enrichment: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def thumbnail_keyframe(self) -> Keyframe | None:
        """The middle keyframe, used for the thumbnail."""
        if not self.keyframes:
            return None
        return self.keyframes[len(self.keyframes) // 2]


class AnalyzedAsset(BaseModel):
    """An asset after probing and scene analysis; flows whole through the model stages."""

    asset: MediaAsset
    probe: ProbeInfo
    scenes: list[Scene]
    models: dict[str, str] = Field(default_factory=dict)  # vector name -> model spec used
    speech: list[SpeechSegment] = Field(default_factory=list)  # filled in by the transcriber stage

    @property
    def keyframe_count(self) -> int:
        return sum(len(s.keyframes) for s in self.scenes)
