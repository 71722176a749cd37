"""Search requests and hits (the query side)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

MODALITIES = ("visual", "text")  # the default: both scene vectors
TRANSCRIPTION = "transcription"  # speech segments, on their own time ranges
ALL_MODALITIES = (*MODALITIES, TRANSCRIPTION)
# How transcription matches, as TwelveLabs' `transcription_options`: the words, their meaning, or both fused.
TRANSCRIPTION_OPTIONS = ("lexical", "semantic")


class SearchRequest(BaseModel):
    text: str | None = None
    image_path: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)  # hits (or videos, grouped) per page
    filter: dict[str, Any] | None = None  # TwelveLabs' syntax; see pipelines/filters.py
    # Which vectors to search; with both, their rankings are fused (reciprocal rank fusion).
    modalities: tuple[str, ...] = MODALITIES
    transcription_options: tuple[str, ...] = TRANSCRIPTION_OPTIONS
    group_by: Literal["clip", "video"] = "clip"
    group_size: int = Field(default=3, ge=1, le=100)  # clips per video when grouped
    # Least cosine similarity a hit needs: one number for every modality, or one per modality.
    threshold: float | dict[str, float] | None = None
    page: int = Field(default=1, ge=1)
    # Assets never returned, whatever the filter (the API's videos that are not ready, or deleted):
    # excluding the few beats listing every admitted asset in the filter.
    exclude_assets: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _needs_a_query(self) -> "SearchRequest":
        if not self.text and not self.image_path:
            raise ValueError("a search needs query text, an image, or both")
        return self

    @field_validator("modalities", mode="before")
    @classmethod
    def _known_modalities(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        chosen = tuple(dict.fromkeys(value))
        unknown = [m for m in chosen if m not in ALL_MODALITIES]
        if unknown or not chosen:
            raise ValueError(f"modalities are {', '.join(ALL_MODALITIES)} (got {', '.join(unknown) or 'none'})")
        return chosen

    @field_validator("transcription_options", mode="before")
    @classmethod
    def _known_transcription_options(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        chosen = tuple(dict.fromkeys(value))
        unknown = [o for o in chosen if o not in TRANSCRIPTION_OPTIONS]
        if unknown or not chosen:
            raise ValueError(f"transcription options are {', '.join(TRANSCRIPTION_OPTIONS)} "
                             f"(got {', '.join(unknown) or 'none'})")
        return chosen

    @field_validator("threshold")
    @classmethod
    def _known_threshold_modalities(cls, value: Any) -> Any:
        if isinstance(value, dict) and (unknown := set(value) - set(MODALITIES)):
            raise ValueError(f"thresholds are per modality ({', '.join(MODALITIES)}), not {', '.join(sorted(unknown))}")
        return value

    def threshold_for(self, modality: str) -> float | None:
        if isinstance(self.threshold, dict):
            return self.threshold.get(modality)
        return self.threshold


class SearchHit(BaseModel):
    asset_id: str
    uri: str
    filename: str
    media_type: str
    scene_index: int
    start_s: float
    end_s: float
    score: float
    thumbnail_uri: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    visible_text: str | None = None
    text_regions: list[dict[str, Any]] = Field(default_factory=list)
    transcript: str | None = None  # the words said in [start_s, end_s)
    segment_index: int | None = None  # transcription hits: the speech segment (scene_index: where it starts)
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)


class SearchGroup(BaseModel):
    """One video (or image) and its best clips, when results are grouped by video."""

    asset_id: str
    uri: str
    filename: str
    media_type: str
    score: float  # its best clip's
    clips: list[SearchHit]


class SearchPage(BaseModel):
    """One page of results: hits (flat, best first), or groups with their clips."""

    hits: list[SearchHit]
    groups: list[SearchGroup] | None = None
    page: int = 1
    has_more: bool = False
    modalities: tuple[str, ...] = ()  # the vectors actually searched
    fused: bool = False  # scores are reciprocal-rank-fusion scores, not cosine similarities
