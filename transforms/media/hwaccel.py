"""Hardware video decoding (NVDEC through CUDA, and the other devices FFmpeg knows) with a
software fallback.

PyAV's wheels carry an FFmpeg built with CUDA device support and the `*_cuvid` decoders; the
driver libraries come from the machine (on Dataflow, from `install-nvidia-driver`). Asking for
a device that is not there fails when the container is opened (here: PermissionError), so a
worker without one decodes in software and says so once. Codecs the device cannot decode fall
back inside FFmpeg (PyAV's `allow_software_fallback`). Frames are copied back to memory, so
everything downstream sees ordinary frames.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, BinaryIO, Iterator, Union

import av

from sceneline.schemas import MediaError
from sceneline.transforms.io.media_io import is_local, local_path, open_for_read
from sceneline.transforms.media.decode import stop_decoding

log = logging.getLogger(__name__)

Source = Union[str, BinaryIO]

# Whether each device type works in this process: probed once (a probe costs a device
# context), and a missing device is reported once, not per file.
_probed: dict[str, str | None] = {}
_lock = threading.Lock()

# Any decoder will do for the probe: creating its device context is what needs the device.
_PROBE_CODEC = "h264"


def _hwaccel(device_type: str) -> Any:
    from av.codec.hwaccel import HWAccel

    return HWAccel(device_type=device_type, allow_software_fallback=True)


def device_unavailable_reason(device_type: str) -> str | None:
    """Why decoding on `device_type` cannot work in this process (None: it can)."""
    with _lock:
        if device_type not in _probed:
            try:
                _hwaccel(device_type).create(av.Codec(_PROBE_CODEC, "r"))
                _probed[device_type] = None
                log.info("decoding video on %s", device_type)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                _probed[device_type] = f"{type(exc).__name__}: {exc}"
                log.warning("hardware decoding on %s is not available (%s); decoding in software",
                            device_type, _probed[device_type])
        return _probed[device_type]


def open_input(source: Source, device_type: str | None = None, **kwargs: Any) -> av.container.InputContainer:
    """av.open for reading, decoding on `device_type` (e.g. "cuda") when it is asked for and
    works here, in software otherwise."""
    if not device_type or device_type == "none" or device_unavailable_reason(device_type):
        return av.open(source, mode="r", **kwargs)
    return av.open(source, mode="r", hwaccel=_hwaccel(device_type), **kwargs)


@contextlib.contextmanager
def open_video(uri: str, hwaccel: str | None = None) -> Iterator[av.container.InputContainer]:
    """Open a media file with PyAV. Local files go to FFmpeg by path (its own I/O is fastest);
    others are read through Beam FileSystems. `hwaccel` (e.g. "cuda") decodes on the GPU when
    it works here, in software otherwise."""
    if is_local(uri):
        try:
            container = open_input(local_path(uri), hwaccel)
        except FileNotFoundError:
            raise
        except av.error.FFmpegError as exc:  # a local file FFmpeg cannot open is bad data, not bad luck
            raise MediaError(f"cannot be read as a video (FFmpeg: {exc.strerror or exc})") from exc
        with container:
            try:
                yield container
            finally:
                stop_decoding(container)
    else:
        with open_for_read(uri) as f, open_input(f, hwaccel) as container:
            try:
                yield container
            finally:
                stop_decoding(container)
