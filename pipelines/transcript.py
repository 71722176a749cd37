"""An asset's transcript from the store, and its forms: JSON segments, SubRip (SRT), WebVTT.

`transcript_of` is the one reader: the CLI (`sceneline transcript`) and the HTTP API both call it.
"""

from __future__ import annotations

from typing import Any

from sceneline.schemas.speech import SpeechSegment
from sceneline.transforms.store.scene_store import SceneStore


class TranscriptNotFoundError(LookupError):
    """The store holds no such asset."""


def transcript_of(store: SceneStore, asset_id: str) -> list[SpeechSegment]:
    """An asset's speech segments in time order; empty when it has no speech (or was indexed
    without a transcriber). Raises TranscriptNotFoundError for an asset the store does not hold."""
    if store.get_status(asset_id) is None:
        raise TranscriptNotFoundError(f"no asset {asset_id} in {store.config.describe()}")
    return store.speech_of(asset_id)


def transcript_json(asset_id: str, segments: list[SpeechSegment]) -> dict[str, Any]:
    return {"asset_id": asset_id,
            "text": " ".join(s.text for s in segments),
            "segments": [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text, "language": s.language,
                          "words": [w.model_dump() for w in s.words]} for s in segments]}


def _clock(seconds: float, decimal: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def to_srt(segments: list[SpeechSegment]) -> str:
    cues = [f"{n}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{s.text}\n"
            for n, s in enumerate(segments, start=1)]
    return "\n".join(cues)


def to_vtt(segments: list[SpeechSegment]) -> str:
    cues = [f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{s.text}\n" for s in segments]
    return "\n".join(["WEBVTT\n", *cues])
