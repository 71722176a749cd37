"""Captioning through any OpenAI-compatible chat-completions endpoint with image input.

vLLM, Ollama, llama.cpp's server, LM Studio and hosted APIs speak the same protocol: the keyframe
goes as a base64 `image_url` part of the user message. Per worker process at most `concurrency`
requests are in flight (one semaphore per endpoint, shared by every thread). Transient trouble
(connection errors, timeouts, 408/409/425/429, 5xx) is retried with exponential backoff and
jitter, honouring Retry-After; when it outlasts the attempts the batch fails (retryable), since
the endpoint is down for every scene alike. A request the endpoint rejects (another 4xx) fails
only that scene.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from sceneline.transforms.models.caption_prompt import ANSWER_JSON_SCHEMA, CaptionRequest, RequestRejected
from sceneline.transforms.models.caption_spec import EndpointSettings
from sceneline.transforms.models.chat_endpoint import (  # noqa: F401  (EndpointUnavailableError: re-exported)
    ChatEndpoint,
    EndpointRejectedError,
    EndpointUnavailableError,
    data_uri,
    message_text,
)

log = logging.getLogger(__name__)


class EndpointCaptioner:
    def __init__(self, model: str, settings: EndpointSettings, max_new_tokens: int = 192):
        self.model = model
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        self._endpoint = ChatEndpoint(settings, what="captioner")

    def close(self) -> None:
        self._endpoint.close()

    def _body(self, request: CaptionRequest) -> dict[str, Any]:
        messages = []
        for i, (role, text) in enumerate(request.turns):
            if i == 0:
                messages.append({"role": role, "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": data_uri(request.image)}}]})
            else:
                messages.append({"role": role, "content": text})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0,
                                "max_tokens": self.max_new_tokens}
        if self.settings.response_format == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "scene_caption", "strict": True, "schema": ANSWER_JSON_SCHEMA}}
        elif self.settings.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _ask(self, request: CaptionRequest) -> str:
        try:
            response = self._endpoint.post(self._body(request))
        except EndpointRejectedError as exc:
            return RequestRejected(str(exc))
        try:
            return message_text(response.json())
        except ValueError:
            return response.text  # not JSON at all: malformed, retried once

    def answer(self, requests: Sequence[CaptionRequest]) -> list[str]:
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(requests)),
                                thread_name_prefix="sceneline-caption") as pool:
            return list(pool.map(self._ask, requests))
