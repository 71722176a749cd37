"""Shot detectors behind one interface, and the registry that names them."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from sceneline.schemas.settings import AnalysisSettings, SettingError
from sceneline.transforms.media.detection.base import Boundary, ShotDetector
from sceneline.transforms.media.detection.content import ContentDetector
from sceneline.transforms.media.detection.gradual import GradualDetector
from sceneline.transforms.media.detection.hybrid import HybridDetector
from sceneline.transforms.media.detection.transnet import TransNetV2Detector

# Chosen by benchmarks/reports/shot_detection.md: every kind of transition at the speed of decoding.
DEFAULT_DETECTOR = AnalysisSettings.default("detector")

_REGISTRY: dict[str, Callable[..., ShotDetector]] = {
    ContentDetector.name: ContentDetector,
    GradualDetector.name: GradualDetector,
    HybridDetector.name: HybridDetector,
    TransNetV2Detector.name: TransNetV2Detector,
}


def detector_names() -> list[str]:
    return sorted(_REGISTRY)


def create_detector(name: str, fps: float, **options: Any) -> ShotDetector:
    """The detector called `name` for a video at `fps`; `options` are its constructor's
    documented arguments (e.g. threshold=20 for content, device="cuda" for transnetv2)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise SettingError(f"unknown detector {name!r}; choose one of {', '.join(detector_names())}") from None
    known = set(inspect.signature(factory).parameters) - {"self", "fps"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SettingError(f"the {name} detector takes no option {', '.join(unknown)} "
                           f"(it takes {', '.join(sorted(known))})")
    return factory(fps=fps, **options)


__all__ = ["Boundary", "ShotDetector", "DEFAULT_DETECTOR", "create_detector", "detector_names"]
