"""Text generation about a video: one interface, two backends.

    openai:MODEL                          any OpenAI-compatible chat-completions endpoint (vLLM,
                                          Ollama, llama.cpp server, TGI, hosted APIs); keyframes go
                                          as images unless the model refuses them
    HuggingFaceTB/SmolLM2-360M-Instruct   a causal language model on the Hugging Face hub (default)
    local-dir:DIR, /path/to/checkpoint    a transformers checkpoint folder (or gs://...)
    none                                  no analyzer

A local model runs through transformers' AutoModelForCausalLM with the checkpoint's own chat
template; it reads the grounded text context only (keyframes are for endpoints that take images).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, Sequence

from sceneline.schemas.settings import AnalyzerSettings
from sceneline.transforms.models.caption_spec import CaptionerSpec, EndpointSettings, parse_captioner_spec
from sceneline.transforms.models.chat_endpoint import ChatEndpoint, EndpointRejectedError, data_uri, message_text
from sceneline.transforms.models.hf_models import resolve_folder
from sceneline.transforms.models.model_spec import ModelUnavailableError

log = logging.getLogger(__name__)

DEFAULT_ANALYZER: str = AnalyzerSettings.default("analyzer")
ANALYZER_API_KEY_ENV = "SCENELINE_ANALYZER_API_KEY"
DEFAULT_ANALYZER_CONCURRENCY: int = AnalyzerSettings.default("analyzer_concurrency")
DEFAULT_ANALYZER_TIMEOUT_S: float = AnalyzerSettings.default("analyzer_timeout")


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    text: str
    images: tuple[bytes, ...] = ()  # JPEG keyframes shown with this message


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str = "stop"  # stop | length
    input_tokens: int | None = None
    output_tokens: int | None = None


class Generator(Protocol):
    spec: str

    def generate(self, messages: Sequence[Message], *, temperature: float, max_tokens: int,
                 json_schema: dict[str, Any] | None = None) -> Generation: ...

    def stream(self, messages: Sequence[Message], *, temperature: float, max_tokens: int) -> Iterator[str]: ...

    def close(self) -> None: ...


# The analyzer's spec is the captioner's kind: an endpoint (openai:MODEL) or a checkpoint.
AnalyzerSpec = CaptionerSpec


def parse_analyzer_spec(spec: str) -> AnalyzerSpec | None:
    return parse_captioner_spec(spec, role="analyzer")


@dataclass(frozen=True)
class GeneratorConfig:
    spec: str = DEFAULT_ANALYZER
    endpoint: EndpointSettings = field(default_factory=lambda: EndpointSettings(
        concurrency=DEFAULT_ANALYZER_CONCURRENCY, timeout_s=DEFAULT_ANALYZER_TIMEOUT_S))
    device: str = "cpu"


class NoAnalyzerError(ValueError):
    """The user asked for generation with --analyzer none."""


def load_generator(config: GeneratorConfig) -> Generator:
    spec = parse_analyzer_spec(config.spec)
    if spec is None:
        raise NoAnalyzerError("no analyzer configured (--analyzer none); pass --analyzer openai:MODEL "
                              "--analyzer-url http://HOST:PORT/v1, or a local checkpoint")
    if spec.backend == "endpoint":
        return EndpointGenerator(spec.raw, spec.model or "", config.endpoint)
    folder = resolve_folder(spec.location, what="analyzer", needs="config.json", remedies=(
        "Ways to supply it: run once with network access so it lands in the Hugging Face cache; pass a "
        "checkpoint folder, --analyzer /path/to/checkpoint; or use an OpenAI-compatible server, "
        "--analyzer openai:MODEL --analyzer-url http://HOST:PORT/v1."))
    return LocalGenerator(spec.raw, str(folder), device=config.device)


# ---- an OpenAI-compatible endpoint ------------------------------------------------------------
class EndpointGenerator:
    def __init__(self, spec: str, model: str, settings: EndpointSettings):
        self.spec = spec
        self.model = model
        self._endpoint = ChatEndpoint(settings, what="analyzer")
        self._images_refused = False  # the model said it takes no images: stop sending them

    def close(self) -> None:
        self._endpoint.close()

    def _messages(self, messages: Sequence[Message], with_images: bool) -> list[dict[str, Any]]:
        rendered = []
        for m in messages:
            if with_images and m.images:
                parts: list[dict[str, Any]] = [{"type": "text", "text": m.text}]
                parts += [{"type": "image_url", "image_url": {"url": data_uri(jpeg)}} for jpeg in m.images]
                rendered.append({"role": m.role, "content": parts})
            else:
                rendered.append({"role": m.role, "content": m.text})
        return rendered

    def _body(self, messages, temperature, max_tokens, json_schema, with_images) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self._messages(messages, with_images),
                                "temperature": temperature, "max_tokens": max_tokens}
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": json_schema}}
        return body

    def _with_image_fallback(self, messages: Sequence[Message], call):
        """Send keyframes; a text-only model that refuses them (HTTP 400) is asked again without."""
        has_images = any(m.images for m in messages)
        if not has_images or self._images_refused:
            return call(False)
        try:
            return call(True)
        except EndpointRejectedError as exc:
            if exc.status not in (400, 415, 422):
                raise
            log.warning("analyzer %s refused images (%s); sending text only from now on", self.spec, exc)
            self._images_refused = True
            return call(False)

    def generate(self, messages, *, temperature, max_tokens, json_schema=None) -> Generation:
        def call(with_images: bool) -> Generation:
            response = self._endpoint.post(self._body(messages, temperature, max_tokens, json_schema, with_images))
            try:
                data = response.json()
            except ValueError:
                return Generation(response.text)
            usage = data.get("usage") or {} if isinstance(data, dict) else {}
            try:
                finish = data["choices"][0].get("finish_reason") or "stop"
            except (KeyError, IndexError, TypeError, AttributeError):
                finish = "stop"
            return Generation(message_text(data), "length" if finish == "length" else "stop",
                              usage.get("prompt_tokens"), usage.get("completion_tokens"))

        return self._with_image_fallback(messages, call)

    def stream(self, messages, *, temperature, max_tokens) -> Iterator[str]:
        with_images = any(m.images for m in messages) and not self._images_refused
        try:
            yield from self._endpoint.stream(self._body(messages, temperature, max_tokens, None, with_images))
        except EndpointRejectedError as exc:
            if not with_images or exc.status not in (400, 415, 422):
                raise
            self._images_refused = True
            yield from self._endpoint.stream(self._body(messages, temperature, max_tokens, None, False))


# ---- a local transformers model ---------------------------------------------------------------
class LocalGenerator:
    """A causal LM from a local folder; greedy at temperature 0 (same answer every run)."""

    def __init__(self, spec: str, folder: str, *, device: str = "cpu"):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise ModelUnavailableError(f"analyzer {spec}: transformers cannot read {folder}: {exc}") from exc
        if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise ModelUnavailableError(f"analyzer {spec} is a {config.model_type!r} model, not a causal "
                                        "language model (AutoModelForCausalLM); use an endpoint for others")
        self.spec = spec
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        dtype = torch.float32 if device == "cpu" else "auto"
        self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype).to(device).eval()
        self._lock = threading.Lock()  # one generation at a time per loaded model

    def close(self) -> None:
        pass

    def _inputs(self, messages: Sequence[Message]):
        chat = [{"role": m.role, "content": m.text} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            prompt = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        else:  # a base model: a plain transcript of the conversation
            prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in chat) + "\n\nassistant:"
        return self.tokenizer(prompt, return_tensors="pt").to(self.device)

    def _generate_kwargs(self, temperature: float, max_tokens: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0,
                                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if temperature > 0:
            kwargs["temperature"] = temperature
        return kwargs

    def generate(self, messages, *, temperature, max_tokens, json_schema=None) -> Generation:
        import torch

        inputs = self._inputs(messages)
        with self._lock, torch.inference_mode():
            output = self.model.generate(**inputs, **self._generate_kwargs(temperature, max_tokens))
        new = output[0, inputs["input_ids"].shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return Generation(text, "length" if len(new) >= max_tokens else "stop",
                          int(inputs["input_ids"].shape[1]), int(len(new)))

    def stream(self, messages, *, temperature, max_tokens) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            import torch

            try:
                with self._lock, torch.inference_mode():
                    self.model.generate(**inputs, **self._generate_kwargs(temperature, max_tokens), streamer=streamer)
            except BaseException as exc:  # surfaced to the reader below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="sceneline-generate", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if failure:
            raise failure[0]
