"""Search requests and hits (the query side)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator


class SearchRequest(BaseModel):
    text: str | None = None
    image_path: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _needs_a_query(self) -> "SearchRequest":
        if not self.text and not self.image_path:
            raise ValueError("a search needs query text, an image, or both")
        return self


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
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)
