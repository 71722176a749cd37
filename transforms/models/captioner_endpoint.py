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

import base64
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import httpx

from sceneline.transforms.models.caption_prompt import ANSWER_JSON_SCHEMA, CaptionRequest, RequestRejected
from sceneline.transforms.models.caption_spec import EndpointSettings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429}
MAX_RETRY_AFTER_S = 60.0


class EndpointUnavailableError(ConnectionError):
    """Transient errors outlasted every attempt; a later run may succeed."""

    retryable = True


_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slots_for(url: str, concurrency: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault((url, concurrency), threading.BoundedSemaphore(concurrency))


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:  # an HTTP date: rare from these servers; fall back to backoff
        return None


def _message_text(data: Any) -> str:
    """The answer's text; an odd body reads as an empty answer (malformed, retried once)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    if isinstance(content, list):  # some servers answer in content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


class EndpointCaptioner:
    def __init__(self, model: str, settings: EndpointSettings, max_new_tokens: int = 192):
        self.model = model
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
        self._client = httpx.Client(
            base_url=settings.url, headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=settings.concurrency))
        self._slots = _slots_for(settings.url, settings.concurrency)

    def close(self) -> None:
        self._client.close()

    def _body(self, request: CaptionRequest) -> dict[str, Any]:
        messages = []
        for i, (role, text) in enumerate(request.turns):
            if i == 0:
                messages.append({"role": role, "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": _data_uri(request.image)}}]})
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
        body = self._body(request)
        delay = self.settings.backoff_s
        last = ""
        for attempt in range(1, self.settings.attempts + 1):
            wait: float | None = None
            try:
                with self._slots:
                    response = self._client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:  # connection trouble and timeouts
                last = f"{type(exc).__name__}: {exc or 'no answer in time'}"
            else:
                if response.status_code == 200:
                    try:
                        return _message_text(response.json())
                    except ValueError:
                        return response.text  # not JSON at all: malformed, retried once
                excerpt = " ".join(response.text.split())[:300]
                if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
                    return RequestRejected(f"the endpoint rejected the request: HTTP {response.status_code} {excerpt}")
                last = f"HTTP {response.status_code} {excerpt}"
                wait = _retry_after_s(response)
            if attempt < self.settings.attempts:
                pause = wait if wait is not None else delay * (0.5 + random.random())
                log.warning("captioner endpoint %s: %s (attempt %d of %d); retrying in %.1f s",
                            self.settings.url, last, attempt, self.settings.attempts, pause)
                time.sleep(pause)
                delay *= 2
        raise EndpointUnavailableError(
            f"captioner endpoint {self.settings.url} failed {self.settings.attempts} times: {last}")

    def answer(self, requests: Sequence[CaptionRequest]) -> list[str]:
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(requests)),
                                thread_name_prefix="sceneline-caption") as pool:
            return list(pool.map(self._ask, requests))
