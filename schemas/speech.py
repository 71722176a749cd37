"""Spoken words: speech segments of an asset, each with its time range and its words.

Speech does not follow shot boundaries, so segments are kept on their own time ranges (and
searched on them); each scene also carries the text spoken during it (`transcript`).
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, Field

TRANSCRIBER_MODEL_KEY = "transcriber"  # in AnalyzedAsset.models: a transcriber ran on the asset


class Word(BaseModel):
    start_s: float
    end_s: float
    text: str
    probability: float | None = None


class SpeechSegment(BaseModel):
    """One stretch of speech: what was said between start_s and end_s (asset time)."""

    index: int
    start_s: float
    end_s: float
    text: str
    words: list[Word] = Field(default_factory=list)
    language: str | None = None
    vector: list[float] | None = Field(default=None, repr=False)  # the sentence model's `text` vector

    def to_payload(self, asset_id: str, uri: str, filename: str) -> dict[str, Any]:
        return {"asset_id": asset_id, "uri": uri, "filename": filename, "segment_index": self.index,
                "start_s": self.start_s, "end_s": self.end_s, "text": self.text, "language": self.language,
                "words": [w.model_dump() for w in self.words]}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "SpeechSegment":
        return cls(index=payload["segment_index"], start_s=payload["start_s"], end_s=payload["end_s"],
                   text=payload["text"], language=payload.get("language"),
                   words=[Word.model_validate(w) for w in payload.get("words") or []])


def text_between(segments: Iterable[SpeechSegment], start_s: float, end_s: float) -> str:
    """The words said in [start_s, end_s): by word times where known, else whole overlapping
    segments (a word belongs to the range its middle falls in, so no word is told twice)."""
    said = []
    for segment in segments:
        if segment.end_s <= start_s or segment.start_s >= end_s:
            continue
        if segment.words:
            said += [w.text for w in segment.words if start_s <= (w.start_s + w.end_s) / 2 < end_s]
        elif start_s <= (segment.start_s + segment.end_s) / 2 < end_s:
            said.append(segment.text)
    return " ".join(" ".join(said).split())
