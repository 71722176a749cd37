"""Shots and transitions of one video, as `sceneline detect` reports them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sceneline.schemas.scenes import TransitionKind


class Transition(BaseModel):
    """A change of shot: a cut, or a dissolve or fade spanning several frames."""

    kind: TransitionKind
    frame: int  # the first frame of the new shot
    time_s: float
    start_frame: int  # the frames the transition spans (inclusive); a cut spans its frame
    end_frame: int
    start_s: float
    end_s: float
    score: float


class Shot(BaseModel):
    index: int
    start_frame: int
    end_frame: int  # inclusive
    start_s: float
    end_s: float  # where the next shot starts (or the video ends)
    transition_in: TransitionKind = TransitionKind.START


class ShotDetection(BaseModel):
    uri: str
    detector: str
    frames: int
    duration_s: float
    fps: float | None = None
    shots: list[Shot]
    transitions: list[Transition]
    elapsed_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
