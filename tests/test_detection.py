"""The content detector finds hard cuts in real footage (the detection issue makes it excellent:
dissolves, fades, flashes and TransNetV2 are tested there)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from conftest import media
from sceneline.transforms.detection import create_detector, detector_names
from sceneline.transforms.detection.base import Boundary


def detect(path, name="content") -> list[Boundary]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        detector = create_detector(name, float(stream.average_rate))
        found = []
        for i, frame in enumerate(container.decode(stream)):
            small = frame.reformat(width=detector.input_size[0], height=detector.input_size[1],
                                   format=detector.input_format).to_ndarray()
            found += detector.process(i, frame.time, small)
        return found + detector.flush()


def match(found: list[int], truth: list[int], tolerance: int = 2) -> int:
    left = list(truth)
    hits = 0
    for f in found:
        near = [t for t in left if abs(t - f) <= tolerance]
        if near:
            left.remove(near[0])
            hits += 1
    return hits


def test_hard_cuts_of_the_ground_truth_video():
    gt = json.loads(media("groundtruth/gt_hardcuts.gt.json").read_text())
    truth = [t["frame"] for t in gt["transitions"] if t["type"] == "cut"]
    found = [b.frame for b in detect(media("groundtruth/gt_hardcuts.mp4"))]
    hits = match(found, truth)
    assert hits / len(truth) >= 0.99  # recall: every cut
    assert hits / len(found) >= 0.9  # precision of this first detector


def test_pyscenedetect_testvideo_first_cuts():
    found = [b.frame for b in detect(media("videos/psd_testvideo.mp4"))]
    assert match(found, [30, 180]) == 2


def test_boundaries_are_ordered_and_respect_min_scene_length():
    found = detect(media("videos/openboard_wannaworktogether.mp4"))
    frames = [b.frame for b in found]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert all(b - a >= 12 for a, b in zip(frames, frames[1:]))


def test_static_frames_never_cut():
    detector = create_detector("content", 25)
    frame = np.full((36, 64, 3), 90, np.uint8)
    assert not [b for i in range(200) for b in detector.process(i, i / 25, frame)] + detector.flush()


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        create_detector("nope", 25)
    assert "content" in detector_names()
