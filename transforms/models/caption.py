"""Scene descriptions and tags from a vision-language model, behind a RunInference ModelHandler.

One prompt per scene (its middle keyframe, the category's preset) asks for a description and
tags as JSON. An answer that does not parse is asked for once more, with the reason; if it
still does not parse, that scene records `caption_error` and the asset indexes on.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from sceneline.schemas import AnalyzedAsset, MediaAsset
from sceneline.schemas.understanding import CaptionResult
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.caption_prompt import (
    CaptionRequest,
    MalformedAnswer,
    RequestRejected,
    UnknownCategoryError,
    check_category,
    parse_answer,
)
from sceneline.transforms.models.caption_spec import CaptionerConfig, checkpoint_folder, parse_captioner_spec
from sceneline.transforms.models.enrich import ItemsHandler
from sceneline.transforms.models.cache import process_model

log = logging.getLogger(__name__)

CAPTIONER_MODEL_KEY = "captioner"
SceneImage = tuple[bytes, str]  # (JPEG keyframe, category)


class Captioner:
    """A backend (local model or endpoint) plus the prompt, parsing and one repair round."""

    def __init__(self, backend: Any, chunk: int):
        self.backend = backend
        self.chunk = max(1, chunk)

    def _answer(self, requests: Sequence[CaptionRequest]) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(requests), self.chunk):
            answers += self.backend.answer(requests[start:start + self.chunk])
        return answers

    def caption(self, scenes: Sequence[SceneImage]) -> list[CaptionResult]:
        requests = [CaptionRequest.first(image, category) for image, category in scenes]
        results: list[CaptionResult | None] = [None] * len(scenes)
        pending = list(range(len(scenes)))
        for round_ in (1, 2):
            answers = self._answer([requests[i] for i in pending])
            retry = []
            for i, answer in zip(pending, answers):
                category = scenes[i][1]
                if isinstance(answer, RequestRejected):
                    results[i] = CaptionResult(error=str(answer), category=category)
                    continue
                try:
                    results[i] = CaptionResult(caption=parse_answer(answer), category=category)
                except MalformedAnswer as exc:
                    if round_ == 1:
                        requests[i] = requests[i].repaired(answer, str(exc))
                        retry.append(i)
                    else:
                        results[i] = CaptionResult(error=f"malformed answer, twice: {exc}", category=category)
            pending = retry
            if not pending:
                break
        return [r for r in results if r is not None]


def load_captioner(config: CaptionerConfig) -> Captioner:
    spec = parse_captioner_spec(config.spec)
    if spec is None:
        raise ValueError("the caption handler needs a captioner spec, not 'none'")
    if spec.is_endpoint:
        from sceneline.transforms.models.captioner_endpoint import EndpointCaptioner

        backend = EndpointCaptioner(spec.model, config.endpoint, config.max_new_tokens)
        # Requests run concurrently; a chunk the size of the batch keeps every slot busy.
        return Captioner(backend, chunk=max(config.batch_scenes, config.endpoint.concurrency))
    from sceneline.transforms.models.captioner_local import LocalVisionLanguageModel

    backend = LocalVisionLanguageModel(checkpoint_folder(spec), device=config.device,
                                       max_new_tokens=config.max_new_tokens, num_threads=config.num_threads)
    return Captioner(backend, chunk=config.batch_scenes)


class CaptionHandler(ItemsHandler):
    """RunInference handler: an asset's scene images in, one CaptionResult per scene out."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["caption"]

    def __init__(self, config: CaptionerConfig, *, max_batch_duration_secs: int | None = None):
        super().__init__(config.batch_scenes, max_batch_duration_secs)
        self._config = config
        self.model_id = config.spec

    def load_model(self) -> Captioner:
        return process_model(load_captioner, self._config)

    def run_items(self, items: Sequence[SceneImage], model: Captioner) -> list[CaptionResult]:
        return model.caption(items)


def asset_category(asset: MediaAsset, default: str) -> tuple[str, str | None]:
    """The asset's own category (user metadata `category`) or the run's; and a warning if the
    asset names one that does not exist."""
    named = asset.user_metadata.get("category")
    if not named:
        return default, None
    try:
        return check_category(str(named)), None
    except UnknownCategoryError as exc:
        return default, f"{exc}; used {default!r}"


def scene_images(analyzed: AnalyzedAsset, default_category: str) -> list[SceneImage]:
    """One image per scene that has keyframes: the middle one (the thumbnail's)."""
    category, _warning = asset_category(analyzed.asset, default_category)
    return [(kf.jpeg, category) for scene in analyzed.scenes if (kf := scene.thumbnail_keyframe()) is not None]


def attach_captions(analyzed: AnalyzedAsset, results: Sequence[CaptionResult], spec: str,
                    default_category: str) -> AnalyzedAsset:
    answered = iter(results)
    scenes, failed = [], []
    for scene in analyzed.scenes:
        if scene.thumbnail_keyframe() is None:
            scenes.append(scene)
            continue
        result = next(answered)
        update: dict[str, Any] = {"content_category": result.category}
        if result.caption is not None:
            update.update(description=result.caption.description, tags=result.caption.tags)
        else:
            update["caption_error"] = result.error
            failed.append(result.error)
        scenes.append(scene.model_copy(update={"enrichment": scene.enrichment.but(**update)}))
    warnings = list(analyzed.probe.warnings)
    _category, category_warning = asset_category(analyzed.asset, default_category)
    if category_warning:
        warnings.append(category_warning)
    if failed:
        warnings.append(f"captioning failed for {len(failed)} of {len(results)} scenes (first: {failed[0]})")
    return analyzed.model_copy(update={
        "scenes": scenes, "probe": analyzed.probe.model_copy(update={"warnings": warnings}),
        "models": {**analyzed.models, CAPTIONER_MODEL_KEY: spec}})
