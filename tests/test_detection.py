"""Shot detectors on real footage: cuts, dissolves and fades where the ground truth puts them,
flashes ignored, and the same boundaries however the frames are batched."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from clips import read_frames, write_video
from conftest import media
from sceneline.benchmarks.scoring import score, truth_from_json
from sceneline.schemas.scenes import TransitionKind
from sceneline.transforms.media.detection import DEFAULT_DETECTOR, create_detector, detector_names
from sceneline.transforms.media.shots import detect_shots


def transitions(path, detector=DEFAULT_DETECTOR, fast=True):
    return detect_shots(str(path), detector, fast=fast).transitions


def ground_truth(name: str):
    doc = json.loads(media(f"groundtruth/{name}.gt.json").read_text())
    return media(f"groundtruth/{doc['video']}"), truth_from_json(doc)


@pytest.mark.parametrize("name", ["gt_hardcuts", "gt_dissolves", "gt_mixed"])
def test_ground_truth_transitions_are_found_where_they_are(name):
    path, truth = ground_truth(name)
    found = transitions(path)
    counts, false_positives, missed = score([(t.frame, t.kind.value) for t in found], truth)
    assert false_positives == []
    assert counts.fn["cut"] == 0  # every hard cut, within +-2 frames
    gradual = counts.tp["gradual"] + counts.fn["gradual"]
    # One dissolve in the set (a shaky pool shot into a near-uniform frame) is missed; see the report.
    assert counts.fn["gradual"] <= max(1, gradual // 10), missed
    assert counts.kind_right == counts.tp["cut"] + counts.tp["gradual"]  # cut, dissolve or fade, as it was


def test_exact_and_fast_decoding_find_the_same_boundaries():
    path, _ = ground_truth("gt_mixed")
    def where(found):  # spans may differ by a frame: where a fade's tail fades out is a fine line
        return [(t.frame, t.kind) for t in found]

    assert where(transitions(path, fast=True)) == where(transitions(path, fast=False))


def test_pyscenedetect_testvideo_cuts_and_fades():
    found = transitions(media("videos/psd_testvideo.mp4"))
    frames = [t.frame for t in found]
    # Cut from a black leader at 30; a cut to black at 180 (then a fade-in); a fade through black
    # whose new picture appears at 394; a dissolve over 529-558.
    for expected in (30, 180, 394):
        assert any(abs(f - expected) <= 2 for f in frames), (expected, frames)
    assert [t.kind for t in found] == [TransitionKind.CUT, TransitionKind.FADE, TransitionKind.FADE,
                                       TransitionKind.DISSOLVE]
    assert 529 <= found[-1].frame <= 558


def small_frames(path, detector):
    with av.open(str(path)) as container:
        width, height = detector.input_size
        return np.stack([f.reformat(width=width, height=height, format="rgb24").to_ndarray()
                         for f in container.decode(video=0)])


@pytest.mark.parametrize("name", ["content", "hybrid"])
def test_batching_does_not_change_what_is_found(name):
    path, _ = ground_truth("gt_mixed")
    frames = small_frames(path, create_detector(name, 25))
    one_by_one = create_detector(name, 25)
    one_by_one.batch_frames = 1
    single = [b for i, f in enumerate(frames) for b in one_by_one.process(i, i / 25, f)] + one_by_one.flush()
    whole = create_detector(name, 25)
    at_once = whole.process_batch(np.arange(len(frames)), np.arange(len(frames)) / 25, frames) + whole.flush()
    assert single == at_once and len(at_once) >= 5


def shot(name: str, start: int, count: int, size=(160, 90)) -> list[np.ndarray]:
    """Frames of one real shot (single shots per the MANIFEST)."""
    return read_frames(media(f"videos/{name}"), start, count, size)


def test_flashes_and_strobe_inside_a_shot_are_not_cuts(tmp_path):
    frames = shot("mmaction2_test.mp4", 0, 120)
    white = np.full_like(frames[0], 255)
    frames[20] = white  # one flash frame
    frames[45:47] = [white, white]  # a two-frame flash
    for i in (70, 72, 74):  # strobe
        frames[i] = white
    frames[95] = np.clip(frames[95].astype(np.int16) * 2 + 90, 0, 255).astype(np.uint8)  # overexposed, not white
    path = write_video(tmp_path / "flashes.mp4", frames)
    assert transitions(path) == []
    assert transitions(path, "content") == []


def test_a_cut_next_to_a_flash_is_still_found(tmp_path):
    frames = shot("mmaction2_test.mp4", 0, 60) + shot("moviepy_chaplin.mp4", 0, 60)
    frames[30] = np.full_like(frames[0], 255)
    path = write_video(tmp_path / "cut_and_flash.mp4", frames)
    assert [(t.frame, t.kind) for t in transitions(path)] == [(60, TransitionKind.CUT)]


def fade(a: list[np.ndarray], b: list[np.ndarray], through: int, length: int = 8,
         hold: int = 3) -> tuple[list[np.ndarray], int]:
    """Shot a fades to a flat level, holds it, and shot b fades in from it; also returns the
    first frame in which b shows."""
    flat = np.full_like(a[0], through).astype(np.float32)
    out = list(a[:-length])
    out += [(a[-length + i] * (1 - (i + 1) / length) + flat * (i + 1) / length).astype(np.uint8) for i in range(length)]
    out += [flat.astype(np.uint8)] * hold
    first_of_b = len(out) + 1
    out += [(b[i] * (i / length) + flat * (1 - i / length)).astype(np.uint8) for i in range(length)]
    return out + list(b[length:]), first_of_b


@pytest.mark.parametrize("through", [0, 255])
def test_fades_through_black_and_white_are_one_transition(tmp_path, through):
    a, b = shot("opencv_vtest.avi", 0, 60), shot("pd_diver.mov", 0, 60)
    frames, first_of_b = fade(a, b, through)
    found = transitions(write_video(tmp_path / f"fade_{through}.mp4", frames))
    assert [t.kind for t in found] == [TransitionKind.FADE]
    # The new shot starts where its picture first appears, right after the blank frames.
    assert abs(found[0].frame - first_of_b) <= 1
    assert found[0].start_frame <= len(a) - 8 and found[0].end_frame >= first_of_b + 6


def test_a_dip_to_white_inside_one_shot_is_not_a_transition(tmp_path):
    frames = shot("opencv_vtest.avi", 0, 120)
    dipped, _ = fade(frames[:60], frames[60:], 255, length=4, hold=1)
    assert transitions(write_video(tmp_path / "dip.mp4", dipped)) == []


def test_boundaries_are_ordered_and_respect_min_scene_length():
    found = transitions(media("videos/openboard_wannaworktogether.mp4"))
    frames = [t.frame for t in found]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert all(b - a >= 12 for a, b in zip(frames, frames[1:]))  # 0.4 s at 29.97 fps


def test_static_frames_never_cut():
    for name in detector_names():
        if name == "transnetv2":
            continue
        detector = create_detector(name, 25)
        frame = np.full((36, 64, 3), 90, np.uint8)
        assert not [b for i in range(200) for b in detector.process(i, i / 25, frame)] + detector.flush()


def test_transnetv2_finds_cuts_in_real_footage(tmp_path):
    frames = shot("opencv_vtest.avi", 0, 50) + shot("moviepy_chaplin.mp4", 0, 50) + shot("pd_diver.mov", 0, 50)
    path = write_video(tmp_path / "three_shots.mp4", frames)
    found = transitions(path, "transnetv2")
    assert [(t.kind, abs(t.frame - expected) <= 1) for t, expected in zip(found, (50, 100))] == \
        [(TransitionKind.CUT, True), (TransitionKind.CUT, True)] and len(found) == 2


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        create_detector("nope", 25)
    assert {"content", "gradual", "hybrid", "transnetv2"} <= set(detector_names())


def _boundaries(detector, frames) -> list:
    n = np.arange(len(frames))
    return detector.process_batch(n, n / 25, frames) + detector.flush()


def test_a_detectors_tunables_reach_it_through_create_detector():
    path, _ = ground_truth("gt_hardcuts")
    frames = small_frames(path, create_detector("content", 25))
    found = _boundaries(create_detector("content", 25), frames)
    assert len(found) >= 3
    # No picture change reaches 255 on the 0-255 scale: with that threshold nothing is a cut.
    assert _boundaries(create_detector("content", 25, threshold=255.0), frames) == []
    # Scenes at least 1000 s long: in a short clip, no boundary is kept.
    assert _boundaries(create_detector("hybrid", 25, min_scene_s=1000.0), frames) == []


def test_an_unknown_option_names_what_the_detector_takes():
    with pytest.raises(ValueError, match="no option thresh .*threshold"):
        create_detector("content", 25, thresh=20)
