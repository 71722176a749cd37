"""One OpenAI-compatible chat-completions connection, shared by the captioner and the analyzer.

vLLM, Ollama, llama.cpp's server, LM Studio, TGI and hosted APIs speak the same protocol. Per
worker process at most `concurrency` requests are in flight (one semaphore per endpoint, shared
by every thread). Transient trouble (connection errors, timeouts, 408/409/425/429, 5xx) is
retried with exponential backoff and jitter, honouring Retry-After; when it outlasts the
attempts, EndpointUnavailableError (or EndpointTimeoutError when the last try timed out) says
so. Another 4xx is the request's own fault: EndpointRejectedError, never retried.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from typing import Any, Iterator

import httpx

from sceneline.transforms.models.caption_spec import EndpointSettings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429}
MAX_RETRY_AFTER_S = 60.0


class EndpointUnavailableError(ConnectionError):
    """Transient errors outlasted every attempt; a later run may succeed."""

    retryable = True


class EndpointTimeoutError(EndpointUnavailableError):
    """The endpoint was reached but did not answer in time, on the last attempt too."""


class EndpointRejectedError(ValueError):
    """The endpoint refused this request (a 4xx other than rate limits): retrying will not help."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slots_for(url: str, concurrency: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault((url, concurrency), threading.BoundedSemaphore(concurrency))


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:  # an HTTP date: rare from these servers; fall back to backoff
        return None


def message_text(data: Any) -> str:
    """The answer's text; an odd body reads as an empty answer."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    if isinstance(content, list):  # some servers answer in content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _excerpt(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:300]


class ChatEndpoint:
    """POST /chat/completions with the retry policy above; `what` names the user in messages."""

    def __init__(self, settings: EndpointSettings, what: str = "chat"):
        self.settings = settings
        self.what = what
        headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
        self._client = httpx.Client(
            base_url=settings.url, headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=settings.concurrency))
        self._slots = _slots_for(settings.url, settings.concurrency)

    def close(self) -> None:
        self._client.close()

    def _retrying(self, attempt_once, *, take_slot: bool = True) -> Any:
        """Run attempt_once() until it returns, retrying transient failures with backoff."""
        delay = self.settings.backoff_s
        last, timed_out = "", False
        for attempt in range(1, self.settings.attempts + 1):
            wait: float | None = None
            try:
                if not take_slot:  # the caller holds one for longer than the call
                    return attempt_once()
                with self._slots:
                    return attempt_once()
            except httpx.TimeoutException as exc:
                last, timed_out = f"{type(exc).__name__}: {exc or 'no answer in time'}", True
            except httpx.TransportError as exc:  # connection refused, reset, ...
                last, timed_out = f"{type(exc).__name__}: {exc or 'connection failed'}", False
            except _Transient as exc:
                last, timed_out, wait = str(exc), False, exc.wait_s
            if attempt < self.settings.attempts:
                pause = wait if wait is not None else delay * (0.5 + random.random())
                log.warning("%s endpoint %s: %s (attempt %d of %d); retrying in %.1f s", self.what,
                            self.settings.url, last, attempt, self.settings.attempts, pause)
                time.sleep(pause)
                delay *= 2
        error = EndpointTimeoutError if timed_out else EndpointUnavailableError
        raise error(f"{self.what} endpoint {self.settings.url} failed {self.settings.attempts} times: {last}")

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            return
        if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
            response.read()
            raise EndpointRejectedError(response.status_code, f"the endpoint rejected the request: HTTP "
                                                              f"{response.status_code} {_excerpt(response)}")
        response.read()
        raise _Transient(f"HTTP {response.status_code} {_excerpt(response)}", retry_after_s(response))

    def post(self, body: dict[str, Any]) -> httpx.Response:
        """The endpoint's 200 response to one chat-completions request."""
        def once() -> httpx.Response:
            response = self._client.post("/chat/completions", json=body)
            self._check(response)
            return response

        return self._retrying(once)

    def stream(self, body: dict[str, Any]) -> Iterator[str]:
        """Text deltas of a streamed answer (server-sent events). Connecting is retried; once
        text has arrived, a broken stream is an error (the caller has shown part of it)."""
        body = {**body, "stream": True}
        with self._slots:  # held while the answer streams: it is one request in flight
            yield from self._read_stream(self._retrying(lambda: self._open_stream(body), take_slot=False))

    @staticmethod
    def _read_stream(context: "_Opened") -> Iterator[str]:
        with context as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    continue  # keep-alives and odd events carry no text
                if delta:
                    yield delta

    def _open_stream(self, body: dict[str, Any]):
        request = self._client.build_request("POST", "/chat/completions", json=body)
        response = self._client.send(request, stream=True)
        try:
            self._check(response)
        except Exception:
            response.close()
            raise
        return _Opened(response)


class _Transient(Exception):
    def __init__(self, message: str, wait_s: float | None):
        super().__init__(message)
        self.wait_s = wait_s


class _Opened:
    """An open streaming response as a context manager that closes it."""

    def __init__(self, response: httpx.Response):
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc) -> None:
        self.response.close()
