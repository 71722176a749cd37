"""A local OpenAI-compatible chat-completions server on 127.0.0.1 for the captioner's and the
analyzer's tests: a stand-in for a chat model whose weights cannot be had here.

It speaks the protocol's subset they use (GET /v1/models, POST /v1/chat/completions, streamed
as server-sent events when the request asks)
and answers from a script: each test says, per request, what status, body and delay to send.
It records every request and the most requests ever in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant's message text (status 200)
    raw: str | None = None  # a raw body instead (malformed responses, error bodies)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def answer(description: str, tags: list[str]) -> Reply:
    return Reply(content=json.dumps({"description": description, "tags": tags}))


Script = Callable[[dict[str, Any], int], Reply]  # (request body, request number from 0) -> reply


class FakeEndpoint:
    def __init__(self, script: Script, models: tuple[str, ...] = ("fake-vlm",)):
        self.script = script
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeEndpoint":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            number = len(self.requests)
            self.requests.append(body)
            self.headers.append(headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.script(body, number)
            time.sleep(reply.delay_s)
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handler_class(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def _send_events(self, text: str) -> None:
                """The answer as server-sent events, a few characters per chunk, as servers stream."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                chunks = [text[i:i + 7] for i in range(0, len(text), 7)]
                for chunk in chunks:
                    event = {"object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": m} for m in endpoint.models]}))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": "not found"}}))
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                reply = endpoint._reply(body, {k.lower(): v for k, v in self.headers.items()})
                if reply.raw is not None:
                    self._send(reply.status, reply.raw, reply.headers)
                    return
                if body.get("stream") and reply.status == 200:
                    self._send_events(reply.content or "")
                    return
                self._send(reply.status, json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                }), reply.headers)

        return Handler
