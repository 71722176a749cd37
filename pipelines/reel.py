"""Which spans of a video go into a reel: chosen scenes, given times, or the video's highlights."""

from __future__ import annotations

from typing import Any, Sequence

from sceneline.pipelines.analysis import AnalysisRequestError, VideoRecord
from sceneline.transforms.media.reel import ReelError, ReelResult, render_reel

__all__ = ["ReelError", "ReelResult", "reel_spans", "render_reel"]


def reel_spans(video: VideoRecord, *, scenes: Sequence[int] | None = None,
               spans: Sequence[tuple[float, float]] | None = None, analyzer: Any = None) -> list[tuple[float, float]]:
    """Scenes by index, times clamped to the video, or (with neither) the analyzer's highlights."""
    if scenes:
        by_index = {s.index: s for s in video.scenes}
        missing = [i for i in scenes if i not in by_index]
        if missing:
            raise AnalysisRequestError(f"the video has no scene {', '.join(map(str, missing))} "
                                       f"(it has {len(video.scenes)})")
        return [(by_index[i].start_s, by_index[i].end_s) for i in scenes]
    if spans:
        clamped = [(max(0.0, a), min(b, video.duration_s)) for a, b in spans]
        if any(b <= a for a, b in clamped):
            raise AnalysisRequestError(f"each span must lie inside the video (0 to {video.duration_s:.1f} s) "
                                       "with start < end")
        return clamped
    if analyzer is None:
        raise AnalysisRequestError("give scenes or spans, or an analyzer to pick the highlights")
    found = analyzer.summarize(video.asset_id, "highlight", temperature=0.0)["highlights"]
    if not found:
        raise AnalysisRequestError("the analyzer found no highlights in this video")
    return [(h["start_sec"], h["end_sec"]) for h in found]
