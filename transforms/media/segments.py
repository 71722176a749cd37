"""Videos in segments: plan time segments at keyframes, analyse each apart, stitch them.

A long video is split at keyframes into segments of about `segment_s` seconds, so that several
workers decode one file at once; a short video is one segment. Every decision a detector makes
about a frame looks at most `context_frames` back and `lookahead_frames` ahead
(detection/base.py), so segment k
- decodes from its keyframe, and spends the first `context_frames` frames warming up;
- owns the frames from there to the same point past the next segment's keyframe;
- decodes `lookahead_frames` beyond what it owns, then stops.
The owned frames of consecutive segments tile the video, and each segment finds in them exactly
the boundaries an unsegmented run finds: a boundary exactly at an edge is found once, by the
segment that owns its frame. Memory is one segment's, whatever the video's length.

Scenes: each segment closes the shots it sees whole; the shots it sees only part of come out
as open pieces with their keyframe candidates (scenes.py), and the stitch joins the pieces of
a shot that crosses an edge before choosing its keyframes. Frame indices are renumbered at the
stitch; times are presentation times throughout.

Only containers with a seek index and reliable timestamps (MP4/MOV, Matroska/WebM) are split;
for anything else, or anything odd about the keyframes found, the video is one segment.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import apache_beam as beam
import av
from av.video.reformatter import VideoReformatter
from pydantic import BaseModel, Field

from sceneline.schemas import AnalyzedAsset, Failure, FailureStage, MediaAsset, MediaError, ProbeInfo, Scene
from sceneline.transforms.media.config import AnalysisConfig
from sceneline.transforms.media.decode import FrameDecoder
from sceneline.transforms.media.detection import Boundary, create_detector
from sceneline.transforms.media.keyframes import keyframe_rgb
from sceneline.transforms.media.limits import DecodeGuard, check_frames, check_probe
from sceneline.transforms.media.hwaccel import open_video
from sceneline.transforms.metrics import count, timed
from sceneline.transforms.media.probe import display_size, probe_container, reconcile_with_decode, video_stream
from sceneline.transforms.media.scenes import SceneBuilder, ShotPiece, scene_from_piece, thin
from sceneline.transforms.stages import FAILED_TAG, StageError, stage


# Container formats (as FFmpeg names them) whose index and timestamps make keyframe seeks exact.
SPLITTABLE_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm")
# Half a microsecond: timestamps at or past a keyframe's, allowing for float rounding.
TIME_EPSILON_S = 5e-7
# Below this share of the stated duration, a file counts as truncated. Not higher: real files
# often state the duration of an audio track that outlasts the video.
TRUNCATED_BELOW = 0.75


class SegmentTask(BaseModel):
    """One segment of a video to analyse: from the keyframe at `start_s` (stream time) to the one
    at `end_s`; None for the first's start and the last's end."""

    asset: MediaAsset
    index: int = 0
    count: int = 1
    start_s: float | None = None
    end_s: float | None = None
    origin_s: float | None = None  # stream time of the video's first frame
    probe: ProbeInfo | None = None  # the planner's probe, so segments need not probe again


class SegmentResult(BaseModel):
    asset: MediaAsset
    index: int
    count: int
    probe: ProbeInfo | None = None
    frames: int = 0  # frames this segment owns
    end_s: float = 0.0  # where its owned frames end (the next segment's first frame, or the video's end)
    pieces: list[ShotPiece] = Field(default_factory=list)
    errors: int = 0
    rotation: int = 0
    stopped_early: str | None = None
    timestamp_repairs: int = 0
    discontinuities: int = 0
    limited: bool = False  # stopped at the configured frame limit
    failure: Failure | None = None


def check_not_truncated(claimed_s: float | None, decoded_s: float, *, limited: bool) -> None:
    if limited or not claimed_s or claimed_s < 1.0:
        return
    if decoded_s < TRUNCATED_BELOW * claimed_s:
        raise StageError(FailureStage.DECODE, MediaError(
            f"truncated or damaged: the container states {claimed_s:.2f} s but only {decoded_s:.2f} s "
            "of video decodes"))


def plan_segments(asset: MediaAsset, config: "AnalysisConfig") -> list[SegmentTask]:
    """The segments to analyse `asset` in: one unless the video is long and can be split exactly."""
    if config.segment_s <= 0 or config.max_frames is not None:  # never split: no need to open it here
        return [SegmentTask(asset=asset)]
    with stage(FailureStage.PROBE), open_video(asset.uri, config.hwaccel) as container:
        probe = probe_container(container, asset.size_bytes)
        check_probe(probe, config.limits)  # nothing past a limit is split and spread
        stream = video_stream(container)
        duration = probe.claimed_duration_s or 0.0
        if (duration < 2 * config.segment_s
                or not set(container.format.name.split(",")) & set(SPLITTABLE_FORMATS)):
            return [SegmentTask(asset=asset, probe=probe)]
        origin = _first_frame_time(container, stream)
        starts = [] if origin is None else _keyframes_near(container, stream, origin, duration, config.segment_s)
    if not starts:
        return [SegmentTask(asset=asset, probe=probe)]
    edges = [None, *starts, None]
    return [SegmentTask(asset=asset, index=k, count=len(edges) - 1, start_s=edges[k], end_s=edges[k + 1],
                        origin_s=origin, probe=probe) for k in range(len(edges) - 1)]


def _first_frame_time(container: av.container.InputContainer, stream) -> float | None:
    for frame in container.decode(stream):
        return float(frame.pts * frame.time_base) if frame.pts is not None else None
    return None


def _keyframes_near(container: av.container.InputContainer, stream, origin: float, duration: float,
                    segment_s: float) -> list[float]:
    """Stream times of keyframes at or before every `segment_s`; [] when seeking proves unreliable."""
    found: list[float] = []
    target = origin + segment_s
    while target < origin + duration - segment_s / 2:
        container.seek(int(target / stream.time_base), backward=True, any_frame=False, stream=stream)
        packet = next((p for p in container.demux(stream) if p.pts is not None), None)
        if packet is None or not packet.is_keyframe:
            return []
        keyframe = float(packet.pts * stream.time_base)
        if keyframe > target + TIME_EPSILON_S or (found and keyframe < found[-1]):
            return []
        if keyframe > (found[-1] if found else origin) + segment_s / 2:
            found.append(keyframe)
        target += segment_s
    return found


def analyze_segment(task: SegmentTask, config: "AnalysisConfig") -> SegmentResult:
    """Decode one segment once: detect shots, take keyframe candidates; raises StageError."""
    asset = task.asset
    later = task.index > 0
    with contextlib.ExitStack() as resources:
        with stage(FailureStage.PROBE):
            container = resources.enter_context(open_video(asset.uri, config.hwaccel))
            stream = video_stream(container)
            probe = task.probe or probe_container(container, asset.size_bytes)
            check_probe(probe, config.limits)
            fps = probe.avg_fps or probe.real_fps or 25.0
            detector = create_detector(config.detector, fps)
            detector.stream_start = not later
        # A later segment warms its detector up before the frames it owns; it owns up to the same
        # point past the next keyframe, where the next segment's warm-up ends.
        warm = detector.context_frames + 1
        decoder = FrameDecoder(container, stream, small_size=detector.input_size, small_format=detector.input_format,
                               threads=config.decode_threads, max_frames=config.max_frames if task.count == 1 else None,
                               seek_s=task.start_s, origin_s=task.origin_s, deblock_references_only=True)
        settle_s = 2 * (detector.lookahead_frames + detector.batch_frames) / fps  # twice: frame rates vary
        builder = SceneBuilder(config.keyframe_policy, open_start=later, settle_s=settle_s)
        owned = _Ownership(first=warm if later else 0, next_keyframe_s=task.end_s, next_warm=warm)
        result = SegmentResult(asset=asset, index=task.index, count=task.count, probe=probe)

        def take(boundaries: list[Boundary]) -> None:
            for b in boundaries:
                if owned.owns_frame(b.frame):
                    local = _shifted(b, -owned.first)
                    if (piece := builder.add_boundary_piece(local)) is not None:
                        result.pieces.append(piece)

        display: tuple[int, int] | None = None
        keyframe_scaler = VideoReformatter()
        guard = DecodeGuard(config.limits)
        with stage(FailureStage.DECODE):
            for df in decoder:
                guard.frame(df.time_s)
                if display is None:  # rotation is known once the first frame is out
                    display = display_size(probe.width, probe.height, probe.sample_aspect, decoder.stats.rotation)
                if owned.see(df.index, df.pts_s, df.time_s):
                    local = df.index - owned.first
                    builder.saw_frame(local, df.time_s)
                    if builder.wants_candidate(df.time_s):
                        rgb = keyframe_rgb(df.frame, *display, decoder.stats.rotation, config.keyframe_max_side,
                                           keyframe_scaler)
                        builder.add_candidate(local, df.time_s, rgb)
                take(detector.process(df.index, df.time_s, df.small))
                if owned.frames_past > detector.lookahead_frames:
                    break
        with stage(FailureStage.DETECT):
            take(detector.flush())
            stats = decoder.stats
            last_segment = task.end_s is None
            end_s = stats.span_s if last_segment or owned.next_time_s is None else owned.next_time_s
            if (piece := builder.finish_piece(end_s, open_end=not last_segment)) is not None:
                result.pieces.append(piece)
    result.frames = owned.count
    result.end_s = end_s
    result.errors, result.rotation, result.stopped_early = stats.errors, stats.rotation, stats.stopped_early
    result.timestamp_repairs, result.discontinuities = stats.timestamp_repairs, stats.discontinuities
    result.limited = config.max_frames is not None and task.count == 1 and stats.frames >= config.max_frames
    return result


@dataclasses.dataclass
class _Ownership:
    """Which decoded frames a segment owns (module docstring)."""

    first: int  # decoder index of the first owned frame
    next_keyframe_s: float | None
    next_warm: int
    count: int = 0
    end: int | None = None  # decoder index of the first frame past the owned ones
    next_time_s: float | None = None  # its time
    frames_past: int = 0
    _at_or_after_next: int = 0

    def see(self, index: int, pts_s: float | None, time_s: float) -> bool:
        """Take the next decoded frame; whether this segment owns it."""
        if self.end is not None:
            self.frames_past += 1
            return False
        if self.next_keyframe_s is not None and pts_s is not None and pts_s >= self.next_keyframe_s - TIME_EPSILON_S:
            self._at_or_after_next += 1
            if self._at_or_after_next > self.next_warm:
                self.end, self.next_time_s = index, time_s
                self.frames_past = 1
                return False
        if index < self.first:
            return False
        self.count += 1
        return True

    def owns_frame(self, index: int) -> bool:
        return index >= self.first and (self.end is None or index < self.end)


def _shifted(b: Boundary, by: int) -> Boundary:
    return dataclasses.replace(
        b, frame=b.frame + by,
        transition_start=None if b.transition_start is None else b.transition_start + by,
        transition_end=None if b.transition_end is None else b.transition_end + by)


def stitch(results: list[SegmentResult], config: "AnalysisConfig") -> AnalyzedAsset:
    """Join the segments of one video into the AnalyzedAsset an unsegmented run gives."""
    results = sorted({r.index: r for r in results}.values(), key=lambda r: r.index)  # redelivered: once each
    first = results[0]
    if [r.index for r in results] != list(range(first.count)):
        raise StageError(FailureStage.DETECT, RuntimeError(
            f"segments {sorted(set(range(first.count)) - {r.index for r in results})} of {first.count} are missing"))
    with stage(FailureStage.DECODE):  # each segment checked its own frames; this is the asset's sum
        check_frames(sum(r.frames for r in results), config.limits)
    scenes: list[Scene] = []
    pending: ShotPiece | None = None
    offset = 0
    with stage(FailureStage.KEYFRAMES):
        for r in results:
            for piece in r.pieces:
                piece = _renumbered(piece, offset)
                if pending is not None and piece.open_start:
                    pending = _joined(pending, piece, config.keyframe_policy.max_candidates)
                else:
                    if pending is not None:
                        scenes.append(scene_from_piece(pending, len(scenes), config.keyframe_policy))
                    pending = piece
                if not pending.open_end:
                    scenes.append(scene_from_piece(pending, len(scenes), config.keyframe_policy))
                    pending = None
            offset += r.frames
        if pending is not None:
            scenes.append(scene_from_piece(pending, len(scenes), config.keyframe_policy))
    return AnalyzedAsset(asset=first.asset, probe=_reconciled(results), scenes=scenes)


def _renumbered(piece: ShotPiece, offset: int) -> ShotPiece:
    if offset == 0:
        return piece
    return piece.model_copy(update={
        "start_frame": piece.start_frame + offset, "end_frame": piece.end_frame + offset,
        "keyframes": [k.model_copy(update={"frame": k.frame + offset}) for k in piece.keyframes],
        "candidates": [k.model_copy(update={"frame": k.frame + offset}) for k in piece.candidates]})


def _joined(head: ShotPiece, tail: ShotPiece, max_candidates: int) -> ShotPiece:
    """One shot seen by two segments."""
    return head.model_copy(update={
        "end_frame": tail.end_frame, "end_s": tail.end_s, "open_end": tail.open_end,
        "candidates": thin(head.candidates + tail.candidates, max_candidates)})


def _reconciled(results: list[SegmentResult]):
    """The container's claims checked against what all segments decoded; raises for truncation."""
    probe = results[0].probe
    frames = sum(r.frames for r in results)
    span = results[-1].end_s
    limited = any(r.limited for r in results)
    check_not_truncated(probe.claimed_duration_s, span, limited=limited)
    probe = reconcile_with_decode(probe, decoded_frames=frames, decoded_span_s=span,
                                  decode_errors=sum(r.errors for r in results), rotation=results[0].rotation)
    probe.warnings += [r.stopped_early for r in results if r.stopped_early]
    discontinuities = sum(r.discontinuities for r in results)
    repairs = sum(r.timestamp_repairs for r in results)
    if discontinuities:
        probe.warnings.append(f"timestamps jumped back {discontinuities} time(s); the timeline "
                              "continues across each jump")
    if repairs:
        probe.warnings.append(f"{repairs} frames had missing or non-increasing timestamps and were given "
                              "estimated times")
    return probe


def analyze_video(asset: MediaAsset, config: "AnalysisConfig") -> AnalyzedAsset:
    """Analyse a whole video in this process, as one segment."""
    return stitch([analyze_segment(SegmentTask(asset=asset), config)], config)


class PlanSegments(beam.DoFn):
    """MediaAsset -> SegmentTasks for a long video; anything else (images, short or unsplittable
    videos, files that fail to open) goes whole to the `whole` output."""

    WHOLE_TAG = "whole"

    def __init__(self, config: "AnalysisConfig"):
        self._config = config

    def process(self, asset: MediaAsset) -> Iterator:
        from sceneline.schemas import MediaType

        tasks: list[SegmentTask] = []
        if asset.media_type is MediaType.VIDEO:
            with contextlib.suppress(Exception):  # the whole path reports it, naming the stage
                tasks = plan_segments(asset, self._config)
        if len(tasks) < 2:
            yield beam.pvalue.TaggedOutput(self.WHOLE_TAG, asset)
            return
        yield from tasks


class AnalyzeSegment(beam.DoFn):
    """SegmentTask -> SegmentResult; a failure travels in the result to the stitch."""

    def __init__(self, config: "AnalysisConfig"):
        self._config = config

    def process(self, task: SegmentTask) -> Iterator:
        try:
            with timed("analyze"):
                result = analyze_segment(task, self._config)
            count("frames_decoded", result.frames)
        except Exception as exc:
            stage_name = exc.stage if isinstance(exc, StageError) else FailureStage.DECODE
            cause = exc.cause if isinstance(exc, StageError) else exc
            result = SegmentResult(asset=task.asset, index=task.index, count=task.count,
                                   failure=Failure.from_exception(cause, uri=task.asset.uri, stage=stage_name,
                                                                  asset_id=task.asset.asset_id))
        yield result


class StitchSegments(beam.DoFn):
    """[SegmentResult] of one asset -> AnalyzedAsset, or one Failure for the asset."""


    def __init__(self, config: "AnalysisConfig"):
        self._config = config

    def process(self, segment_results) -> Iterator:
        results = list(segment_results)
        failed = next((r.failure for r in sorted(results, key=lambda r: r.index) if r.failure), None)
        if failed is not None:
            yield beam.pvalue.TaggedOutput(FAILED_TAG, failed)
            return
        try:
            yield stitch(results, self._config)
        except StageError as exc:
            asset = results[0].asset
            yield beam.pvalue.TaggedOutput(FAILED_TAG, Failure.from_exception(
                exc.cause, uri=asset.uri, stage=exc.stage, asset_id=asset.asset_id))
