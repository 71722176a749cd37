"""The decoder's background thread: the frames and times of a plain decode, and it stops cleanly
when the caller leaves early or the stream fails."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest

from clips import write_video
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
    """Frame threads cost CPU to hand frames between them; with the decoder in its own thread the
    caller's thread scores on the core left over, unless the caller names a thread count."""
    from sceneline.transforms.media.decode import available_cores

    def threads_used(**options) -> int:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            assert sum(1 for _ in FrameDecoder(container, stream, **options)) == 90
            return stream.codec_context.thread_count

    assert threads_used(prefetch=True) == max(1, available_cores() - 1)
    assert threads_used(prefetch=True, threads=3) == 3
