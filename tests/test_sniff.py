"""Media type comes from the bytes, never the name."""

from __future__ import annotations

import pytest

from conftest import all_videos, media
from sceneline.schemas import MediaType
from sceneline.transforms.media.sniff import SNIFF_BYTES, extension_media_type, sniff_bytes


def head(path) -> bytes:
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES)


@pytest.mark.parametrize("path", all_videos(), ids=lambda p: p.name)
def test_every_real_video_sniffs_as_video(path):
    assert sniff_bytes(head(path)).media_type is MediaType.VIDEO, path.name


@pytest.mark.parametrize("name", [
    "images/misc/imageio_chelsea.jpg", "images/misc/imageio_chelsea.png",
    "images/misc/pygame_scarlet.webp", "images/misc/moviepy_pigs_in_a_polka.gif",
])
def test_real_images_sniff_as_images(name):
    assert sniff_bytes(head(media(name))).media_type is MediaType.IMAGE


def test_text_file_that_ffmpeg_would_open_is_not_media():
    # FFmpeg's tty demuxer "decodes" this licence text as an ANSI video: sniffing must say text.
    sniffed = sniff_bytes(head(media("videos/PYSCENEDETECT_RESOURCES_LICENSE.txt")))
    assert sniffed.media_type is None and sniffed.format == "text"


@pytest.mark.parametrize("data, fmt", [
    (b"", "empty"),
    (b"%PDF-1.7\n...", "pdf"),
    (b"PK\x03\x04" + bytes(100), "zip"),
    ("héllo wörld, plain UTF-8 text\n".encode() * 50, "text"),
    (bytes(range(256)) * 8, "unknown"),
])
def test_non_media_is_named(data, fmt):
    sniffed = sniff_bytes(data)
    assert sniffed.media_type is None and sniffed.format == fmt


def test_heif_still_is_an_image_not_a_video():
    assert sniff_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(32)).media_type is MediaType.IMAGE
    assert sniff_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(32)).media_type is MediaType.VIDEO


def test_extension_only_tells_what_a_name_claims():
    assert extension_media_type("clip.MP4") is MediaType.VIDEO
    assert extension_media_type("photo.jpeg") is MediaType.IMAGE
    assert extension_media_type("notes.txt") is None
