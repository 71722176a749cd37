"""Captioner specs, their settings, and checking before any work that the captioner can be had.

    HuggingFaceTB/SmolVLM-256M-Instruct   a vision-language model on the Hugging Face hub (default)
    local-dir:DIR, /path/to/checkpoint     a transformers checkpoint folder
    gs://bucket/models/vlm/                a checkpoint folder in Cloud Storage
    openai:MODEL                           any OpenAI-compatible chat-completions endpoint with
                                           image input (vLLM, Ollama, llama.cpp server, hosted
                                           APIs); URL, key and limits in EndpointSettings
    none                                   no descriptions or tags

Local checkpoints load with transformers' AutoProcessor and AutoModelForImageTextToText, so any
checkpoint of an architecture transformers knows works (SmolVLM, Idefics3, Qwen2-VL, ...).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from sceneline.schemas.settings import SettingError
from sceneline.schemas.settings import UnderstandingSettings
from sceneline.transforms.models.caption_prompt import DEFAULT_CATEGORY, check_category
from sceneline.transforms.models.hf_models import ModelLocation, parse_location, resolve_folder
from sceneline.transforms.models.model_spec import ModelUnavailableError, set_offline

log = logging.getLogger(__name__)

DEFAULT_CAPTIONER = UnderstandingSettings.default("captioner")
ENDPOINT_PREFIX = "openai:"
DEFAULT_ENDPOINT_URL = "https://api.openai.com/v1"
API_KEY_ENVS = ("SCENELINE_CAPTIONER_API_KEY", "OPENAI_API_KEY")
RESPONSE_FORMATS = tuple(UnderstandingSettings.model_fields["captioner_response_format"].json_schema_extra["choices"])


@dataclass(frozen=True)
class CaptionerSpec:
    """A chat model's spec (the captioner's, and the analyzer's: transforms/models/generation.py)."""

    raw: str
    backend: str  # "transformers" | "endpoint"
    location: ModelLocation | None = None  # transformers checkpoints
    model: str | None = None  # the endpoint's model name

    @property
    def is_endpoint(self) -> bool:
        return self.backend == "endpoint"


def parse_captioner_spec(spec: str, role: str = "captioner") -> CaptionerSpec | None:
    """openai:MODEL (an endpoint), a checkpoint location, or None for 'none'; `role` names the
    model in errors."""
    raw = spec.strip()
    if raw.lower() in ("", "none"):
        return None
    if raw.startswith(ENDPOINT_PREFIX):
        model = raw[len(ENDPOINT_PREFIX):].strip()
        if not model:
            raise SettingError(f"{role} spec {spec!r} names no model (openai:MODEL)")
        return CaptionerSpec(raw, "endpoint", model=model)
    return CaptionerSpec(raw, "transformers", location=parse_location(raw))


@dataclass(frozen=True)
class EndpointSettings:
    """How to talk to a chat-completions endpoint. Limits hold per worker process."""

    base_url: str = ""
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 4
    timeout_s: float = 120.0
    attempts: int = 4  # tries per request for transient errors (network, timeouts, 429, 5xx)
    backoff_s: float = 1.0  # first wait; doubles each try, with jitter, or what Retry-After says
    response_format: str = "json_schema"

    def __post_init__(self) -> None:
        if self.response_format not in RESPONSE_FORMATS:
            raise SettingError(f"response format must be one of {', '.join(RESPONSE_FORMATS)}")
        if self.concurrency < 1 or self.attempts < 1 or self.timeout_s <= 0:
            raise SettingError("endpoint concurrency and attempts must be at least 1, the timeout positive")

    @property
    def url(self) -> str:
        return (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_ENDPOINT_URL).rstrip("/")

    @property
    def key(self) -> str | None:
        return self.api_key or next((os.environ[v] for v in API_KEY_ENVS if os.environ.get(v)), None)


@dataclass(frozen=True)
class CaptionerConfig:
    spec: str
    category: str = DEFAULT_CATEGORY
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    max_new_tokens: int = 192
    batch_scenes: int = 8
    device: str = "cpu"
    num_threads: int | None = None


def _local_remedies(spec: CaptionerSpec) -> str:
    return ("Ways to supply it: run once with network access so it lands in the Hugging Face cache; "
            "pass a checkpoint folder, --captioner /path/to/checkpoint (or local-dir:DIR, or "
            "gs://BUCKET/checkpoint/); use an OpenAI-compatible server, --captioner openai:MODEL "
            "--captioner-url http://HOST:PORT/v1; or --captioner none (no descriptions or tags).")


def checkpoint_folder(spec: CaptionerSpec):
    return resolve_folder(spec.location, what="captioner", needs="config.json", remedies=_local_remedies(spec))


def _check_local(spec: CaptionerSpec) -> None:
    folder = checkpoint_folder(spec)
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelUnavailableError(f"captioner {spec.raw}: transformers cannot read {folder}: {exc}") from exc
    if type(config) not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING:
        raise ModelUnavailableError(
            f"captioner {spec.raw} is a {config.model_type!r} model, not a vision-language model that "
            "transformers loads with AutoModelForImageTextToText (SmolVLM, Idefics3, Qwen2-VL, ...)")


def _check_endpoint(spec: CaptionerSpec, settings: EndpointSettings) -> None:
    """Reach the endpoint once (GET /models) so a wrong URL or key fails before any work."""
    import httpx

    headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
    try:
        response = httpx.get(f"{settings.url}/models", headers=headers, timeout=min(settings.timeout_s, 15.0))
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(
            f"captioner {spec.raw}: the endpoint {settings.url} cannot be reached ({exc}). Start the "
            "server or pass --captioner-url, or use --captioner none") from exc
    if response.status_code in (401, 403):
        raise ModelUnavailableError(
            f"captioner {spec.raw}: the endpoint {settings.url} refused the API key (HTTP "
            f"{response.status_code}); set SCENELINE_CAPTIONER_API_KEY or OPENAI_API_KEY")
    if response.status_code != 200:
        log.warning("captioner endpoint %s has no model list (HTTP %s); going on", settings.url,
                    response.status_code)
        return
    try:
        served = {m.get("id") for m in response.json().get("data", [])}
    except Exception:
        served = set()
    if served and spec.model not in served:
        log.warning("captioner endpoint %s does not list model %r (it lists %s)", settings.url, spec.model,
                    ", ".join(sorted(str(s) for s in served)[:10]))


def preflight_captioner(config: CaptionerConfig, *, offline: bool = False) -> CaptionerSpec | None:
    """Check, before any work, that the captioner can be had and the category exists."""
    if offline:
        set_offline()
    check_category(config.category)
    spec = parse_captioner_spec(config.spec)
    if spec is None:
        return None
    if spec.is_endpoint:
        _check_endpoint(spec, config.endpoint)
    else:
        _check_local(spec)
    return spec
