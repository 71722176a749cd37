"""The decoder's background thread: the frames and times of a plain decode, and it stops cleanly
when the caller leaves early or the stream fails."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest

from clips import write_video
from conftest import media
from sceneline.schemas import MediaError
from sceneline.transforms.media.decode import FrameDecoder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.default_rng(7)
    frames = [np.full((72, 128, 3), (i * 5) % 256, np.uint8) + rng.integers(0, 20, (72, 128, 3), dtype=np.uint8)
              for i in range(90)]
    return write_video(tmp_path_factory.mktemp("prefetch") / "clip.mp4", frames)


def decoded(path, **options):
    with av.open(str(path)) as container:
        decoder = FrameDecoder(container, container.streams.video[0], **options)
        return [(d.index, round(d.time_s, 6), d.small.copy()) for d in decoder], decoder.stats


def test_background_decoding_gives_the_frames_of_a_plain_decode(clip):
    plain, plain_stats = decoded(clip, prefetch=False)
    background, stats = decoded(clip, prefetch=True)
    assert len(background) == len(plain) == 90
    assert [(i, t) for i, t, _ in background] == [(i, t) for i, t, _ in plain]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(background, plain))
    assert stats.frames == plain_stats.frames and stats.span_s == plain_stats.span_s


def test_without_keep_frames_only_the_full_size_frames_are_left_out(clip):
    kept, _ = decoded(clip)
    with av.open(str(clip)) as container:
        decoder = FrameDecoder(container, container.streams.video[0], keep_frames=False)
        light = [(d.index, round(d.time_s, 6), d.small.copy(), d.frame) for d in decoder]
    assert [f for *_, f in light] == [None] * 90
    assert [(i, t) for i, t, _, _ in light] == [(i, t) for i, t, _ in kept]
    assert all(np.array_equal(a, b) for (_, _, a, _), (_, _, b) in zip(light, kept))


def test_leaving_early_stops_the_decoding_thread(clip):
    before = threading.active_count()
    with av.open(str(clip)) as container:
        decoder = FrameDecoder(container, container.streams.video[0], prefetch=True)
        for frame in decoder:
            if frame.index == 3:
                break
    assert threading.active_count() == before


def test_a_failure_in_the_decoding_thread_is_raised_to_the_caller(clip):
    # Asked to start past the end, the decoder finds no frame: its error must reach the caller.
    with av.open(str(clip)) as container:
        decoder = FrameDecoder(container, container.streams.video[0], prefetch=True, seek_s=60.0)
        with pytest.raises(MediaError, match="no frame could be decoded"):
            list(decoder)


def test_the_background_decoder_leaves_a_core_to_the_callers_scoring(clip):
    """Frame threads cost CPU to hand frames between them; with the decoder of small frames in
    its own thread, the caller's thread scores on the core left over, unless the caller names a
    thread count."""
    from sceneline.transforms.media.decode import available_cores

    def threads_used(**options) -> int:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            assert sum(1 for _ in FrameDecoder(container, stream, **options)) == 90
            return stream.codec_context.thread_count

    assert threads_used(prefetch=True) == max(1, available_cores() - 1)  # a 128 x 72 clip
    assert threads_used(prefetch=True, threads=3) == 3


def test_hd_frames_decode_on_every_core():
    """Decoding HD outweighs scoring several times over: one decoding thread would leave the
    scoring core idle, so the decoder gets them all; smaller frames leave one to the scoring."""
    from sceneline.transforms.media.decode import available_cores, decoding_threads

    cores = available_cores()
    assert decoding_threads(pixels=1920 * 1080) == cores
    assert decoding_threads(pixels=1280 * 720) == cores
    assert decoding_threads(pixels=640 * 360) == max(1, cores - 1)
    assert decoding_threads(4, pixels=640 * 360) == 4
    assert decoding_threads(0, in_background=False, pixels=1920 * 1080) == 0  # FFmpeg chooses


def test_deblocking_skipped_on_non_reference_frames_only_carries_no_error_forward(tmp_path):
    """The analysis stage's decode: frames predicted from (I and P here) come out exactly as a full
    decode gives them, so no error drifts into later frames; only the B-frames, which nothing is
    predicted from, lose their deblocking."""
    from av.video.frame import PictureType
    from clips import read_frames

    real = read_frames(media("groundtruth/gt_hardcuts.mp4"), 0, 40, (320, 180))
    clip = write_video(tmp_path / "bframes.mp4", real,
                       options={"bframes": "2", "b-pyramid": "none", "crf": "34", "preset": "veryfast"})

    def full_size(**options):
        with av.open(str(clip)) as container:
            return [(d.frame.pict_type, d.frame.to_ndarray(format="yuv420p"))
                    for d in FrameDecoder(container, container.streams.video[0], **options)]

    full, lighter = full_size(), full_size(deblock_references_only=True)
    assert [kind for kind, _ in full] == [kind for kind, _ in lighter]
    references = [(a, b) for (kind, a), (_, b) in zip(full, lighter) if kind in (PictureType.I, PictureType.P)]
    others = [(a, b) for (kind, a), (_, b) in zip(full, lighter) if kind == PictureType.B]
    assert references and others
    assert all(np.array_equal(a, b) for a, b in references)
    assert any(not np.array_equal(a, b) for a, b in others)


def test_closing_the_video_stops_a_decoder_an_error_left_running(clip):
    """An error raised inside a comprehension over the frames keeps the iteration alive in the
    traceback; closing the video must stop its decoding thread first (FFmpeg reading a closed
    container crashes the process)."""
    from sceneline.transforms.media.hwaccel import open_video

    before = threading.active_count()
    for _ in range(5):
        with pytest.raises(AttributeError):
            with open_video(str(clip)) as container:
                [d.frame.no_such_attribute for d in FrameDecoder(container, container.streams.video[0])]
        assert threading.active_count() == before
