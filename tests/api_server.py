"""`sceneline serve` in its own process for the API tests, and the official SDK pointed at it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

READY_STATES = ("ready", "failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    key: str
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1.3"

    def client(self, key: str | None = None):
        from twelvelabs import TwelveLabs

        return TwelveLabs(api_key=key or self.key, base_url=self.base_url)


def fast_model_flags(tiny_clip_spec: str) -> list[str]:
    """Tiny models: the test's own open_clip (random weights), no captioner, OCR or text model."""
    return ["--visual-model", tiny_clip_spec, "--captioner", "none", "--no-ocr", "--text-model", "none",
            "--detector", "content", "--offline"]


def fast_index_argv(tiny_clip_spec: str) -> tuple[str, ...]:
    """`fast_model_flags` as the index runs of an in-process server get them (ServerSettings.index_argv)."""
    from sceneline.schemas.settings import AnalysisSettings, ModelSettings, UnderstandingSettings

    return (*ModelSettings(visual_model=tiny_clip_spec, offline=True).argv(),
            *UnderstandingSettings(captioner="none", ocr=False, text_model="none").argv(),
            *AnalysisSettings(detector="content").argv())


def start(home: Path, flags: list[str], key: str = "test-key", port: int | None = None) -> Server:
    os.environ.pop("TWELVELABS_BASE_URL", None)  # the SDK would prefer it to base_url
    port = port or free_port()
    exe = Path(sys.executable).with_name("sceneline")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]
    log = open(home.parent / f"{home.name}-server.log", "ab")
    process = subprocess.Popen(command + ["serve", "--port", str(port), "--home", str(home), "--api-key", key,
                                          "--index-workers", "1", *flags],
                               stdout=log, stderr=log, env={**os.environ, "SCENELINE_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, f"serve exited: {(home.parent / f'{home.name}-server.log').read_text()[-3000:]}"
        assert time.monotonic() < deadline, "serve did not start in 180 s"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return Server(url, home, key, process)
        time.sleep(0.3)


def stop(server: Server, hard: bool = False) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        server.process.wait(timeout=60)


@contextlib.contextmanager
def running(home: Path, flags: list[str], **kwargs) -> Iterator[Server]:
    server = start(home, flags, **kwargs)
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """An app (its lifespan included) under uvicorn in a thread of this process; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def wait_for_task(client, task_id: str, timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while True:
        task = client.tasks.retrieve(task_id)
        if task.status in READY_STATES:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task.status} after {timeout_s} s"
        time.sleep(0.5)
