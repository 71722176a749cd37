"""Scene understanding: what a vision-language model says about a scene, and its visible text.

These land in each scene's payload (`Scene.enrichment`): `description`, `tags`, `content_category`,
`visible_text` and `text_regions`, or `caption_error` when the model's answer could not be used.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TAGS = 20
MAX_TAG_CHARS = 48


class Caption(BaseModel):
    """A model's structured answer: one description and a short list of tags.

    Small models stray from the requested shape in harmless ways (a `caption` key, tags as one
    comma-separated string); those are accepted, anything else is a malformed answer.
    """

    description: str = Field(min_length=1, max_length=4000)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _accept_common_aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for alias in ("caption", "summary"):
            if "description" not in data and alias in data:
                data["description"] = data.pop(alias)
        for alias in ("keywords", "labels"):
            if "tags" not in data and alias in data:
                data["tags"] = data.pop(alias)
        return data

    @field_validator("description")
    @classmethod
    def _strip_description(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the description is empty")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _normalise_tags(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise ValueError("tags must be a list of strings")
        tags: list[str] = []
        for tag in value:
            tag = " ".join(tag.strip().strip("#").lower().split())[:MAX_TAG_CHARS]
            if tag and tag not in tags:
                tags.append(tag)
        return tags[:MAX_TAGS]


class CaptionResult(BaseModel):
    """One scene's captioning outcome: a caption, or why there is none (the asset still indexes)."""

    caption: Caption | None = None
    error: str | None = None
    category: str


class TextRegion(BaseModel):
    """A line of visible text and where it is: a box normalised to [0, 1] of the keyframe."""

    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max
    time_s: float | None = None  # the keyframe it was read from (None for images)


def join_visible_text(regions: list[TextRegion]) -> str:
    """The lines in reading order, one per line."""
    return "\n".join(region.text for region in regions)


class Enrichment(BaseModel):
    """What the model stages say about one scene (`Scene.enrichment`); each field lands at the
    top of the scene's payload (schemas/payload.py). A field is None when its stage did not run.
    A new model stage declares its fields here."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    tags: list[str] | None = None
    content_category: str | None = None  # the captioner preset the scene was described with
    caption_error: str | None = None  # why the captioner's answer could not be used
    visible_text: str | None = None
    text_regions: list[dict[str, Any]] | None = None
    transcript: str | None = None  # the words said during the scene
    transcript_error: str | None = None  # why the transcriber could not read the audio

    def but(self, **fields: Any) -> "Enrichment":
        """A copy with these fields set (validated)."""
        return Enrichment.model_validate({**self.model_dump(exclude_none=True), **fields})
