"""Scene understanding in a pipeline: visible text, captions, spoken words, then text vectors.

    (key, AnalyzedAsset) -> OCR (keyframes) -> captioner (one keyframe a scene) -> transcriber (audio)
        -> text embedding
        -> (key, AnalyzedAsset) with description, tags, visible text, transcript, speech segments
           and `text` vectors (of scenes and of speech segments)

Shared by the batch pipeline and a streaming one: both build an UnderstandingConfig from their
options, preflight it before any work, and add the stages with `add_understanding`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import apache_beam as beam

from sceneline.schemas import FailureStage
from sceneline.transforms.models.caption import CaptionHandler, attach_captions, scene_images
from sceneline.transforms.models.caption_spec import CaptionerConfig, CaptionerSpec, preflight_captioner
from sceneline.transforms.models.embed_text import TextEmbeddingHandler, attach_text_vectors, scene_texts
from sceneline.transforms.models.enrich import EnrichAssets
from sceneline.transforms.models.ocr import OcrConfig, OcrHandler, attach_visible_text, keyframe_images
from sceneline.transforms.models.text_model import TextModelSpec, preflight_text_model
from sceneline.transforms.models.transcriber import (
    TranscriberConfig,
    TranscriberSpec,
    TranscriptionHandler,
    attach_transcript,
    audio_sources,
    preflight_transcriber,
)


@dataclass(frozen=True)
class UnderstandingConfig:
    captioner: CaptionerConfig | None = None  # None or spec "none": no descriptions or tags
    ocr: OcrConfig | None = None  # None: no visible text
    text_model: str | None = None  # None or "none": no text vectors
    transcriber: TranscriberConfig | None = None  # None or spec "none": no transcripts
    device: str = "cpu"
    text_batch: int = 64
    max_batch_duration_secs: int | None = None  # streaming: bound how long a batch waits


@dataclass(frozen=True)
class UnderstandingModels:
    """What preflight found: the models this run will use."""

    captioner: CaptionerSpec | None
    ocr: bool
    text: tuple[TextModelSpec, int] | None  # (spec, dim)
    transcriber: TranscriberSpec | None = None

    @property
    def text_spec(self) -> str | None:
        return self.text[0].raw if self.text else None


def preflight_understanding(config: UnderstandingConfig, *, offline: bool = False) -> UnderstandingModels:
    """Fail before any work, naming the model, when one cannot be had."""
    captioner = preflight_captioner(config.captioner, offline=offline) if config.captioner else None
    text = preflight_text_model(config.text_model, config.device) if config.text_model else None
    if config.ocr is not None:
        from sceneline.transforms.models.ocr import OcrEngine

        OcrEngine(config.ocr)  # the weights are in the wheel: this fails only if it is not installed
    transcriber = preflight_transcriber(config.transcriber, offline=offline)
    return UnderstandingModels(captioner=captioner, ocr=config.ocr is not None, text=text, transcriber=transcriber)


def add_understanding(assets: beam.PCollection, config: UnderstandingConfig,
                      models: UnderstandingModels) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Add the understanding stages after analysis, on keyed assets (pipelines/index_assets.py).
    Returns (assets, failure collections), keyed."""
    failures = []
    batch_wait = config.max_batch_duration_secs
    if models.ocr and config.ocr is not None:
        assets, failed = assets | "ReadVisibleText" >> EnrichAssets(
            OcrHandler(config.ocr, max_batch_duration_secs=batch_wait), keyframe_images, attach_visible_text,
            FailureStage.OCR)
        failures.append(failed)
    if models.captioner is not None and config.captioner is not None:
        category = config.captioner.category
        assets, failed = assets | "Caption" >> EnrichAssets(
            CaptionHandler(config.captioner, max_batch_duration_secs=batch_wait),
            functools.partial(scene_images, default_category=category),
            functools.partial(attach_captions, spec=models.captioner.raw, default_category=category),
            FailureStage.CAPTION)
        failures.append(failed)
    if models.transcriber is not None and config.transcriber is not None:
        # Before the text vectors: speech segments get theirs in the same stage as scenes.
        assets, failed = assets | "Transcribe" >> EnrichAssets(
            TranscriptionHandler(config.transcriber, max_batch_duration_secs=batch_wait), audio_sources,
            functools.partial(attach_transcript, spec=models.transcriber.raw), FailureStage.TRANSCRIBE)
        failures.append(failed)
    if models.text_spec is not None:
        spec = models.text_spec
        assets, failed = assets | "EmbedSceneText" >> EnrichAssets(
            TextEmbeddingHandler(spec, device=config.device, max_batch_texts=config.text_batch,
                                 max_batch_duration_secs=batch_wait),
            scene_texts, functools.partial(attach_text_vectors, spec=spec), FailureStage.EMBED_TEXT)
        failures.append(failed)
    return assets, failures
