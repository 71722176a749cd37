"""Shot detection alone: decode a video once and report its shots and transitions.

This is what `sceneline detect` runs. It takes no keyframes, so by default it decodes in the
detector's fast mode (decode.py: no deblocking filter), at about the speed of decoding alone.
The index pipeline uses the same detectors through transforms/media/analyze.py.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from sceneline.schemas.scenes import TransitionKind
from sceneline.schemas.shots import Shot, ShotDetection, Transition
from sceneline.transforms.media.decode import FrameDecoder
from sceneline.transforms.media.detection import DEFAULT_DETECTOR, Boundary, create_detector
from sceneline.transforms.media.hwaccel import open_video
from sceneline.transforms.media.probe import probe_container, video_stream


def detect_shots(uri: str, detector: str = DEFAULT_DETECTOR, *, fast: bool = True, threads: int = 0,
                 max_frames: int | None = None) -> ShotDetection:
    """Decode `uri` once with `detector`; raises MediaError for input that is not a usable video."""
    started = time.perf_counter()
    with open_video(uri) as container:
        stream = video_stream(container)
        probe = probe_container(container, 0)
        fps = probe.avg_fps or probe.real_fps or 25.0
        shot_detector = create_detector(detector, fps)
        decoder = FrameDecoder(container, stream, small_size=shot_detector.input_size,
                               small_format=shot_detector.input_format, threads=threads,
                               max_frames=max_frames, fast=fast, keep_frames=False)
        times: list[float] = []
        boundaries: list[Boundary] = []
        for df in decoder:
            times.append(df.time_s)
            boundaries += shot_detector.process(df.index, df.time_s, df.small)
        boundaries += shot_detector.flush()
    stats = decoder.stats
    warnings = [stats.stopped_early] if stats.stopped_early else []
    if stats.errors:
        warnings.append(f"{stats.errors} packets failed to decode and were skipped")
    return ShotDetection(
        uri=uri, detector=detector, frames=stats.frames, duration_s=round(stats.span_s, 6),
        fps=round(fps, 6), shots=shots_between(boundaries, np.asarray(times), stats.span_s),
        transitions=[_transition(b, times) for b in boundaries],
        elapsed_s=round(time.perf_counter() - started, 4), warnings=warnings)


def shots_between(boundaries: Sequence[Boundary], times: np.ndarray, end_s: float) -> list[Shot]:
    """The shots a list of boundaries cuts a video of len(times) frames into."""
    if len(times) == 0:
        return []
    starts = [(0, 0.0, TransitionKind.START)] + [(b.frame, b.time_s, b.kind) for b in boundaries
                                                if 0 < b.frame < len(times)]
    shots = []
    for k, (frame, start_s, kind) in enumerate(starts):
        next_frame, next_s = (starts[k + 1][0], starts[k + 1][1]) if k + 1 < len(starts) else (len(times), end_s)
        shots.append(Shot(index=k, start_frame=frame, end_frame=next_frame - 1, start_s=round(start_s, 6),
                          end_s=round(next_s, 6), transition_in=kind))
    return shots


def _transition(b: Boundary, times: list[float]) -> Transition:
    first = b.transition_start if b.transition_start is not None else b.frame
    last = b.transition_end if b.transition_end is not None else b.frame
    return Transition(kind=b.kind, frame=b.frame, time_s=round(b.time_s, 6), start_frame=first, end_frame=last,
                      start_s=round(times[first], 6), end_s=round(times[last], 6), score=b.score)
