"""Media type from the bytes, never from the file name."""

from __future__ import annotations

from dataclasses import dataclass

from sceneline.schemas import MediaType

# How many leading bytes sniffing needs (MPEG-TS sync bytes sit at 0, 188 and 376).
SNIFF_BYTES = 4096

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .qt .webm .mkv .avi .mpg .mpeg .m2v .ts .mts .m2ts .flv .wmv .asf .3gp .3g2 "
    ".ogv .ogg .mxf .vob .ivf .rm .rmvb .dv .y4m .h264 .hevc .265".split()
)
IMAGE_EXTENSIONS = frozenset(".jpg .jpeg .jpe .png .webp .gif .bmp .tif .tiff .avif .heic".split())

_HEIF_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


@dataclass(frozen=True)
class Sniffed:
    """What the leading bytes say: a media type and a format name, or what else it looks like."""

    media_type: MediaType | None
    format: str

    @property
    def is_media(self) -> bool:
        return self.media_type is not None


def _is_mpeg_ts(head: bytes) -> bool:
    return len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    sample = head[:SNIFF_BYTES]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return False
        text = sample[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.97 * max(1, len(text))


def sniff_bytes(head: bytes) -> Sniffed:
    """Classify a file by its first bytes (pass at least SNIFF_BYTES when the file has them)."""
    if not head:
        return Sniffed(None, "empty")
    h = head
    # Images
    if h.startswith(b"\xff\xd8\xff"):
        return Sniffed(MediaType.IMAGE, "jpeg")
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(MediaType.IMAGE, "png")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(MediaType.IMAGE, "gif")
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return Sniffed(MediaType.IMAGE, "webp")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed(MediaType.IMAGE, "tiff")
    if h[:2] == b"BM" and len(h) >= 26 and h[6:10] == b"\x00\x00\x00\x00":
        return Sniffed(MediaType.IMAGE, "bmp")
    # ISO base media (mp4, mov, m4v, 3gp) and HEIF/AVIF stills, which share the box format
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in _HEIF_IMAGE_BRANDS:
            return Sniffed(MediaType.IMAGE, brand.decode("ascii", "replace"))
        return Sniffed(MediaType.VIDEO, "isobmff")
    if h[4:8] in _QUICKTIME_ATOMS:
        return Sniffed(MediaType.VIDEO, "quicktime")
    # Other containers
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed(MediaType.VIDEO, "matroska")
    if h[:4] == b"RIFF" and h[8:12] in (b"AVI ", b"AVIX"):
        return Sniffed(MediaType.VIDEO, "avi")
    if h.startswith(b"OggS"):
        return Sniffed(MediaType.VIDEO, "ogg")  # may be audio only: probing decides
    if h.startswith(b"\x00\x00\x01\xba"):
        return Sniffed(MediaType.VIDEO, "mpeg-ps")
    if h.startswith(b"\x00\x00\x01\xb3"):
        return Sniffed(MediaType.VIDEO, "mpeg-es")
    if _is_mpeg_ts(h):
        return Sniffed(MediaType.VIDEO, "mpeg-ts")
    if h.startswith(b"FLV\x01"):
        return Sniffed(MediaType.VIDEO, "flv")
    if h.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Sniffed(MediaType.VIDEO, "asf")
    if h.startswith(b"DKIF"):
        return Sniffed(MediaType.VIDEO, "ivf")
    if h.startswith(b".RMF"):
        return Sniffed(MediaType.VIDEO, "realmedia")
    if h.startswith(b"YUV4MPEG2"):
        return Sniffed(MediaType.VIDEO, "y4m")
    # Known non-media, named so errors can say what the file really is
    if h.startswith(b"%PDF"):
        return Sniffed(None, "pdf")
    if h.startswith(b"PK\x03\x04"):
        return Sniffed(None, "zip")
    if h.startswith((b"ID3", b"fLaC")) or (h[:4] == b"RIFF" and h[8:12] == b"WAVE"):
        return Sniffed(None, "audio")
    if _looks_like_text(h):
        return Sniffed(None, "text")
    return Sniffed(None, "unknown")


def extension_media_type(name: str) -> MediaType | None:
    """What the name claims; used only to tell 'bad media' (failed) from 'not media' (skipped)."""
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot >= 0 else ""
    if ext in VIDEO_EXTENSIONS:
        return MediaType.VIDEO
    if ext in IMAGE_EXTENSIONS:
        return MediaType.IMAGE
    return None
