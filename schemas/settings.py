"""Every sceneline setting, declared once: its name, type, default, bounds, help and environment
variable, in typed groups.

The command line (pipelines/cli/) and Beam's PipelineOptions (pipelines/options.py) are both
generated from these declarations (pipelines/settings_flags.py), and the code that owns a concern
reads its default from here, so a default cannot drift between `index`, `stream`, `launch` and the
pipelines. A Beam flag is the field name (`--visual_model`); the CLI spells it with dashes
(`--visual-model`). Limits on one asset are a group of their own (schemas/limits.py).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from sceneline.schemas.failures import UserError


def _env(name: str) -> dict[str, str]:
    return {"envvar": name}


class SettingError(UserError, ValueError):
    """A setting that cannot work (an unknown name, a value out of range): the user's to fix."""


class SettingsGroup(BaseModel):
    """A group of settings; its fields are the declarations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def default(cls, name: str) -> Any:
        return cls.model_fields[name].default

    @classmethod
    def flag(cls, name: str) -> str:
        """The Beam flag of a setting (the CLI spells it with dashes)."""
        return (cls.model_fields[name].json_schema_extra or {}).get("flag", name)

    @classmethod
    def pick(cls, values: dict[str, Any]):
        """The group from the values it declares (e.g. a command's keyword arguments); the
        fields given are its `model_fields_set`."""
        return cls(**{name: values[name] for name in cls.model_fields if name in values})

    def argv(self) -> list[str]:
        """Beam flags for the settings given (not those left to their defaults)."""
        flags = []
        for name in sorted(self.model_fields_set):
            value, flag = getattr(self, name), self.flag(name)
            if (self.model_fields[name].json_schema_extra or {}).get("beam_owned") or value is None:
                continue
            if isinstance(value, bool):
                flags.append(f"--{flag}" if value else f"--no_{flag}")
            else:
                flags.append(f"--{flag}={value}")
        return flags


class StoreSettings(SettingsGroup):
    """Where the index lives: a local folder, or a Qdrant server."""

    qdrant_path: Optional[str] = Field(
        None, description="Local Qdrant folder (default .sceneline/qdrant) or ':memory:'.",
        json_schema_extra=_env("SCENELINE_QDRANT_PATH"))
    qdrant_url: Optional[str] = Field(None, description="Qdrant server URL (instead of a local folder).",
                                      json_schema_extra=_env("SCENELINE_QDRANT_URL"))
    qdrant_api_key: Optional[str] = Field(None, description="API key for a Qdrant server.",
                                          json_schema_extra=_env("SCENELINE_QDRANT_API_KEY"))
    collection: str = Field("scenes", description="Scenes collection name.",
                            json_schema_extra=_env("SCENELINE_COLLECTION"))


class ModelSettings(SettingsGroup):
    """The image-embedding model and where every model runs."""

    visual_model: str = Field(
        "ViT-B-32:laion2b_s34b_b79k",
        description="Image embedding model: ARCH:PRETRAINED (tag, checkpoint path, gs:// URI or 'random'), "
                    "local-dir:DIR, hf-hub:ORG/REPO, or 'none'.",
        json_schema_extra=_env("SCENELINE_VISUAL_MODEL"))
    offline: bool = Field(False, description="Never reach for a model hub (missing weights fail at once).",
                          json_schema_extra=_env("SCENELINE_OFFLINE"))
    model_device: str = Field("cpu", description="Device for models: cpu or cuda.")
    embed_batch_images: int = Field(32, ge=1, description="Images per model batch.")
    torch_threads: int = Field(0, ge=0, description="Torch threads (0: torch decides).")


class UnderstandingSettings(SettingsGroup):
    """Scene understanding: descriptions and tags, visible text, the text vector."""

    captioner: str = Field(
        "HuggingFaceTB/SmolVLM-256M-Instruct",
        description="Descriptions and tags: a VLM hub id, local-dir:DIR, a path, gs://prefix/, openai:MODEL "
                    "(an OpenAI-compatible endpoint), or 'none'.",
        json_schema_extra=_env("SCENELINE_CAPTIONER"))
    category: str = Field(
        "general",
        description="Content category preset for the captioner (general, product, real_estate, document, "
                    "screenshot, construction, food, fashion, vehicle); an asset's own metadata `category` wins.")
    captioner_url: str = Field(
        "", description="Base URL of an OpenAI-compatible endpoint for openai:MODEL (default $OPENAI_BASE_URL "
                        "or OpenAI's).",
        json_schema_extra=_env("SCENELINE_CAPTIONER_URL"))
    captioner_api_key: Optional[str] = Field(
        None, description="API key for the endpoint (default $SCENELINE_CAPTIONER_API_KEY or $OPENAI_API_KEY).")
    captioner_concurrency: int = Field(4, ge=1, description="Endpoint requests in flight per worker process.")
    captioner_timeout: float = Field(120.0, gt=0, description="Seconds to wait for one answer.")
    captioner_attempts: int = Field(4, ge=1, description="Tries per request on transient errors.")
    captioner_response_format: str = Field(
        "json_schema", description="How to ask the endpoint for JSON (json_schema, json_object, or none).",
        json_schema_extra={"choices": ["json_schema", "json_object", "none"]})
    captioner_max_tokens: int = Field(192, ge=1, description="Longest answer, in tokens.")
    caption_batch_scenes: int = Field(8, ge=1, description="Scenes per captioner batch.")
    ocr: bool = Field(True, description="Read visible text in keyframes and images.")
    ocr_min_confidence: float = Field(0.6, ge=0, le=1,
                                      description="Least confidence of a line of visible text to keep.")
    ocr_gate_side: int = Field(
        384, ge=0,
        description="Long side, in pixels, at which the text detector first looks for any text: a keyframe "
                    "where it finds none ends there, the others are read at full size (0: always full size; "
                    "384 was chosen by measurement, see docs/models.md).")
    text_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="Sentence model for the `text` vector (a name or hub id, a path, gs://prefix/), or 'none'.",
        json_schema_extra=_env("SCENELINE_TEXT_MODEL"))
    transcriber: str = Field(
        "tiny.en",
        description="Speech model (faster-whisper): a name (tiny.en, the bundled default; small, large-v3, "
                    "distil-large-v3, ...), a CTranslate2 folder, gs://prefix/, or 'none'.",
        json_schema_extra=_env("SCENELINE_TRANSCRIBER"))
    language: Optional[str] = Field(
        None, description="Spoken language (ISO code, e.g. en); default: detected where the model can.")


class AnalysisSettings(SettingsGroup):
    """How a video is decoded and cut into scenes."""

    detector: str = Field("hybrid", description="Shot detector: content, gradual, hybrid, transnetv2.")
    keyframe_max_side: int = Field(640, ge=16, description="Longest side of a keyframe, in pixels.")
    decode_threads: int = Field(0, ge=0, description="FFmpeg decode threads (0: auto).")
    segment_s: float = Field(
        300.0, ge=0, description="Videos at least twice this long are analysed in segments of about this many "
                                 "seconds, spread over workers (0: never split).")
    hwaccel: Optional[str] = Field(
        None, description="Hardware video decoding (e.g. cuda); software when the device is missing.")


HOME = ".sceneline"


class OutputSettings(SettingsGroup):
    """Where a run writes besides the index."""

    thumbnails: str = Field(f"{HOME}/thumbnails", description="Thumbnail folder or gs:// prefix.")
    dead_letter: str = Field(
        f"{HOME}/dead_letters",
        description="Dead-letter folder or gs:// prefix (JSON lines); a stream also takes a Pub/Sub topic, "
                    "projects/P/topics/T.")
    run_dir: str = Field(f"{HOME}/runs", description="Folder or gs:// prefix for each run's outcome records.")


class BatchSettings(SettingsGroup):
    """`sceneline index`: a batch over files, folders and prefixes."""

    runner: str = Field("FnApiRunner", description="Beam runner (FnApiRunner, DaskRunner, DataflowRunner, ...).",
                        json_schema_extra={"beam_owned": True})
    dask_workers: int = Field(
        0, ge=0, description="DaskRunner: worker processes of the local cluster it starts (0: one per core; "
                             "unused with --dask_client_address=ADDR).")
    resume: bool = Field(
        False, description="Skip assets already indexed (same content and models): re-run only what a killed "
                           "or failed run left.")


class StreamSettings(SettingsGroup):
    """`sceneline stream`: keep the index in step with a bucket's notifications."""

    subscription: Optional[str] = Field(
        None, description="The bucket notifications' subscription, projects/P/subscriptions/S.",
        json_schema_extra=_env("SCENELINE_SUBSCRIPTION"))
    runner: str = Field("BundleBasedDirectRunner",
                        description="BundleBasedDirectRunner (local), DataflowRunner, FlinkRunner.",
                        json_schema_extra={"beam_owned": True})
    embed_batch_wait_s: int = Field(
        1, ge=0, description="Longest wait in seconds for a model batch to fill (RunInference "
                             "max_batch_duration_secs; runners with watermarks, such as Dataflow).")
    max_leased_messages: int = Field(64, ge=1,
                                     description="Local runner: messages held (received, not yet acknowledged) "
                                                 "at once.")
    lease_extension_s: int = Field(
        60, description="Local runner: longest ack-deadline extension, 10-600 s; after a crash, Pub/Sub "
                        "redelivers held messages within about this time.")
    api_media_root: Optional[str] = Field(
        None, description="The gs://BUCKET/PREFIX of a `sceneline serve --media-root`: an object under "
                          "PREFIX/INDEX_ID/ is indexed into that API index's collection (COLLECTION-INDEX_ID); "
                          "any other object into --collection, as without this setting.",
        json_schema_extra=_env("SCENELINE_API_MEDIA_ROOT"))


class AnalyzerSettings(SettingsGroup):
    """Generation about a whole video: analyze, summarize, gist, ask (docs/analyze.md)."""

    analyzer: str = Field(
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        description="openai:MODEL (an OpenAI-compatible endpoint), a hub id, a checkpoint folder, or none.",
        json_schema_extra=_env("SCENELINE_ANALYZER"))
    analyzer_url: Optional[str] = Field(None, description="The endpoint's base URL, e.g. http://127.0.0.1:8000/v1.",
                                        json_schema_extra=_env("SCENELINE_ANALYZER_URL"))
    analyzer_api_key: Optional[str] = Field(None, description="The endpoint's API key (else OPENAI_API_KEY).",
                                            json_schema_extra=_env("SCENELINE_ANALYZER_API_KEY"))
    # One answer about a whole video can take minutes on a small GPU.
    analyzer_concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    analyzer_timeout: float = Field(300.0, gt=0, description="Seconds to wait for one answer.")
    context_tokens: int = Field(
        6000, ge=256, description="Token budget of the grounded context per prompt (longer videos: map-reduce).")
    keyframes: int = Field(4, ge=0, description="Keyframes sent as images (endpoints).")


# Addresses a server without an API key may listen on.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ServeSettings(SettingsGroup):
    """`sceneline serve`: the TwelveLabs v1.3 API over this machine's index (docs/api.md)."""

    host: str = Field("127.0.0.1", description="Address to listen on (others than loopback need --api-key).")
    port: int = Field(8000, ge=0, le=65535, description="Port.")
    api_key: list[str] = Field(
        default_factory=list, description="A key clients send in x-api-key (repeatable; kept only hashed).",
        json_schema_extra=_env("SCENELINE_API_KEYS"))
    home: str = Field(HOME, description="The server's folder: records, uploads (media/), thumbnails.",
                      json_schema_extra=_env("SCENELINE_HOME"))
    media_root: Optional[str] = Field(
        None, description="Where uploads go: a folder (default HOME/media), indexed by this server; or "
                          "gs://BUCKET/PREFIX, indexed by `sceneline stream --api-media-root` on the bucket's "
                          "notifications, not by this server (docs/api.md).",
        json_schema_extra=_env("SCENELINE_MEDIA_ROOT"))
    index_workers: int = Field(0, ge=0, description="Indexing runs at once (0: half the cores).")
    max_upload_bytes: int = Field(64 * 1024**3, ge=1, description="Largest upload accepted, in bytes.")
    multipart_chunk_bytes: int = Field(
        8 * 1024**2, ge=1024,
        description="Chunk size of resumable (multipart) uploads, in bytes; a file of more than 10,000 such "
                    "chunks gets larger ones.")


# The groups the Beam pipelines read (pipelines/options.py adds a flag for each field).
PIPELINE_GROUPS: tuple[type[SettingsGroup], ...] = (
    StoreSettings, ModelSettings, UnderstandingSettings, AnalysisSettings, OutputSettings, BatchSettings,
    StreamSettings)
