"""Small frames for the detectors: the luma/chroma path gives the picture swscale's RGB path
gives, in order, for limited- and full-range YUV, and other formats take swscale's path."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from conftest import media
from sceneline.transforms.media.small_frames import SmallFrames

SIZE = (64, 36)


def real_frames(name: str, count: int) -> list[av.VideoFrame]:
    with av.open(str(media(name))) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                return frames
    return frames


def swscale_rgb(frame: av.VideoFrame) -> np.ndarray:
    return VideoReformatter().reformat(frame, width=SIZE[0], height=SIZE[1], format="rgb24",
                                       interpolation="AREA").to_ndarray().astype(np.int16)


def made(frames: list[av.VideoFrame], pixel_format: str = "rgb24") -> list[np.ndarray]:
    small = SmallFrames(SIZE, pixel_format, block=len(frames))
    for frame in frames:
        small.add(frame)
    return small.take()


@pytest.mark.parametrize("name", ["groundtruth/gt_mixed.mp4", "videos/moviepy_chaplin.mp4"])
def test_yuv_frames_look_like_swscales_rgb_thumbnails(name):
    frames = real_frames(name, 12)
    assert frames[0].format.name == "yuv420p"
    for frame, small in zip(frames, made(frames), strict=True):
        assert small.shape == (SIZE[1], SIZE[0], 3) and small.dtype == np.uint8
        error = np.abs(small.astype(np.int16) - swscale_rgb(frame))
        # Same luma; chroma read at pixel centres instead of averaged: close, not identical.
        assert error.mean() < 3.0 and np.percentile(error, 99) < 24


def colourfulness(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.float32)
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 2] - rgb[..., 1]).mean())


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuvj420p"])
def test_colours_keep_their_strength_in_limited_and_full_range(pixel_format):
    frame = real_frames("groundtruth/gt_mixed.mp4", 1)[0].reformat(format=pixel_format)
    [small] = made([frame])
    # Full-range chroma read as limited range (or the reverse) is 14% too strong (too weak).
    assert colourfulness(small) / colourfulness(swscale_rgb(frame)) == pytest.approx(1.0, abs=0.05)


def test_other_formats_take_swscales_path_and_order_is_kept():
    yuv = real_frames("groundtruth/gt_hardcuts.mp4", 3)
    rgb = yuv[1].reformat(format="rgb24")
    frames = [yuv[0], rgb, yuv[2]]
    out = made(frames)
    assert np.array_equal(out[1], swscale_rgb(rgb).astype(np.uint8))
    for frame, small in zip(frames, out):
        assert np.abs(small.astype(np.int16) - swscale_rgb(frame)).mean() < 3.0
    grey = made(frames, "gray")
    assert [g.shape for g in grey] == [(SIZE[1], SIZE[0])] * 3


def test_take_hands_out_each_frame_once():
    frames = real_frames("groundtruth/gt_hardcuts.mp4", 5)
    small = SmallFrames(SIZE, "rgb24", block=5)
    for frame in frames[:3]:
        small.add(frame)
    first = small.take()
    for frame in frames[3:]:
        small.add(frame)
    second = small.take()
    assert len(first) == 3 and len(second) == 2 and small.take() == []
    # The block's working memory is reused: handed-out arrays must not change afterwards.
    assert np.array_equal(first[0], made(frames[:1])[0])
    # Each pixel's channels side by side in memory, the layout the detectors stack and copy.
    assert all(f.flags.c_contiguous and f.shape == (SIZE[1], SIZE[0], 3) for f in first + second)


def test_frames_tagged_bt709_are_converted_with_its_matrix():
    frame = real_frames("groundtruth/gt_mixed.mp4", 1)[0]
    frame.colorspace = 1  # AVCOL_SPC_BT709, as HD streams are tagged
    [small] = made([frame])
    bt709 = swscale_rgb(frame)  # swscale reads the frame's colour space
    frame.colorspace = 2  # untagged: BT.601
    bt601 = swscale_rgb(frame)
    small = small.astype(np.int16)
    assert np.abs(small - bt709).mean() < 0.8 * np.abs(small - bt601).mean()
