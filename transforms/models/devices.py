"""Which device a model runs on, and how many images one forward pass takes there.

`--model_device cuda` on a worker without a usable GPU (no driver, no device) runs on the CPU
and says so once, as Beam's own PyTorch handlers do, rather than failing every batch. On a GPU,
the images per forward pass are sized from the memory one image takes (measured once, on a
probe batch) and the memory free, so one pass fills the GPU without running out of it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

_fallbacks_reported: set[str] = set()
_lock = threading.Lock()

PROBE_IMAGES = 8
GPU_MEMORY_SHARE = 0.7  # of the free memory: room for other threads' batches and the allocator
MIN_IMAGES_PER_PASS = 8
MAX_IMAGES_PER_PASS = 1024


def torch_device(requested: str | None) -> str:
    """A device torch can use here for `requested` (cpu, cuda, cuda:N, or auto)."""
    import torch

    wanted = (requested or "cpu").strip().lower()
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not wanted.startswith("cuda"):
        return wanted
    if torch.cuda.is_available():
        index = int(wanted.split(":", 1)[1]) if ":" in wanted else 0
        if index < torch.cuda.device_count():
            return wanted
        reason = f"{wanted} asked for, but this machine has {torch.cuda.device_count()} GPU(s)"
    else:
        reason = "no CUDA device or driver on this machine"
    with _lock:
        if wanted not in _fallbacks_reported:
            _fallbacks_reported.add(wanted)
            log.warning("models asked to run on %s: %s; running on the CPU", wanted, reason)
    return "cpu"


def images_per_pass(free_bytes: int, bytes_per_image: float, *, share: float = GPU_MEMORY_SHARE,
                    floor: int = MIN_IMAGES_PER_PASS, ceiling: int = MAX_IMAGES_PER_PASS) -> int:
    """How many images one forward pass may take, in multiples of 8 (tensor cores like them)."""
    if bytes_per_image <= 0:
        return ceiling
    fits = int(free_bytes * share / bytes_per_image)
    return max(floor, min(ceiling, fits - fits % 8))


def measure_images_per_pass(model: Any, image_size: int, device: str) -> int | None:
    """On a CUDA device: run a probe batch, and size passes from its peak memory. None on CPU
    (no limit but the batch size asked for)."""
    if not device.startswith("cuda"):
        return None
    import torch

    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    probe = torch.zeros((PROBE_IMAGES, 3, image_size, image_size), device=device)
    with torch.inference_mode():
        model.encode_image(probe)
    peak = torch.cuda.max_memory_allocated(device) - before
    del probe
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    n = images_per_pass(free, peak / PROBE_IMAGES)
    log.info("%s: %.1f MiB per image in a forward pass, %.0f MiB free: %d images per pass",
             device, peak / PROBE_IMAGES / 2**20, free / 2**20, n)
    return n
