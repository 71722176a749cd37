"""TwelveLabs-shaped routes for generation about a video, as one APIRouter.

    POST /v1.3/analyze               plain (stream: false) or NDJSON events (stream: true, the default)
    POST /v1.3/analyze/tasks         the same, run in the background; GET /v1.3/analyze/tasks/{id}
    POST /v1.3/summarize             summary | chapter | highlight (earlier SDKs' shape: video_id)
    POST /v1.3/gist                  title, topic, hashtag (earlier SDKs' shape: video_id)
    POST /v1.3/reels                 an MP4 of chosen scenes (or of the video's highlights)

Errors come in TwelveLabs' shape, {"code", "message"}: a bad request is a 400, an unknown video a
404, an analyzer endpoint that is down a 503 and one that does not answer in time a 504; an
answer that misses the schema twice is a 502. Nothing here stops the server.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional

from fastapi import APIRouter, Body
from starlette.background import BackgroundTask
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sceneline.pipelines.analyze_tasks import SqliteTaskShelf, TaskShelf
from sceneline.pipelines.analysis import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    AnalysisRequest,
    AnalysisRequestError,
    AnalysisSettings,
    Analyzer,
    AnswerCache,
    InvalidAnswerError,
    VideoNotFoundError,
    load_video,
)
from sceneline.transforms.models.chat_endpoint import (
    EndpointRejectedError,
    EndpointTimeoutError,
    EndpointUnavailableError,
)
from sceneline.transforms.models.generation import Generator, NoAnalyzerError
from sceneline.transforms.models.model_spec import ModelUnavailableError

log = logging.getLogger(__name__)

PREFIX = "/v1.3"
TASK_WORKERS = 2


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "message": self.message}, status_code=self.status)


def api_error(exc: BaseException) -> ApiError:
    """A failure as the HTTP error a TwelveLabs client expects."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, VideoNotFoundError):
        return ApiError(404, "video_not_found", str(exc))
    from sceneline.pipelines.reel import ReelError

    if isinstance(exc, (AnalysisRequestError, ValidationError, ReelError)):
        return ApiError(400, "parameter_invalid", str(exc))
    if isinstance(exc, EndpointTimeoutError):
        return ApiError(504, "analyzer_timeout", f"the analyzer did not answer in time: {exc}")
    if isinstance(exc, (EndpointUnavailableError, ModelUnavailableError, NoAnalyzerError)):
        return ApiError(503, "analyzer_unavailable", f"the analyzer cannot be reached: {exc}")
    if isinstance(exc, EndpointRejectedError):
        return ApiError(502, "analyzer_rejected", str(exc))
    if isinstance(exc, InvalidAnswerError):
        return ApiError(502, "analyzer_invalid_answer", str(exc))
    log.exception("analysis failed")
    return ApiError(502, "analysis_failed", f"{type(exc).__name__}: {exc}")


# ---- request bodies ----------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class VideoRef(_Body):
    type: str = "asset_id"
    asset_id: Optional[str] = None
    url: Optional[str] = None
    video_id: Optional[str] = None


class ResponseFormat(_Body):
    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any]


class AnalyzeBody(_Body):
    video: Optional[VideoRef] = None
    video_id: Optional[str] = None  # earlier SDKs
    model_name: Optional[str] = None
    prompt: str = Field(min_length=1)
    temperature: float = Field(DEFAULT_TEMPERATURE, ge=0, le=1)
    response_format: Optional[ResponseFormat] = None
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, le=32768)
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    stream: bool = True

    def video_ref(self) -> str:
        ref = self.video_id or (self.video and (self.video.asset_id or self.video.video_id or self.video.url))
        if not ref:
            raise ApiError(400, "parameter_invalid", "give the video: video.asset_id (or video_id)")
        return ref

    def request(self) -> AnalysisRequest:
        return AnalysisRequest(self.prompt, self.temperature, self.max_tokens,
                               self.response_format.json_schema if self.response_format else None,
                               self.start_time, self.end_time)


class SummarizeBody(_Body):
    video_id: str = Field(min_length=1)
    type: Literal["summary", "chapter", "highlight"]
    prompt: Optional[str] = None
    temperature: float = Field(DEFAULT_TEMPERATURE, ge=0, le=1)
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, le=32768)


class GistBody(_Body):
    video_id: str = Field(min_length=1)
    types: list[Literal["title", "topic", "hashtag"]] = Field(min_length=1)


class ReelSpan(_Body):
    start: float = Field(ge=0)
    end: float = Field(gt=0)


class ReelBody(_Body):
    video_id: str = Field(min_length=1)
    scenes: Optional[list[int]] = None  # scene indexes; or
    spans: Optional[list[ReelSpan]] = None  # times; or neither: the video's highlights


def _parse(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError(400, "parameter_invalid", problems) from exc


# ---- tasks -------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class TaskBook:
    """Background analysis tasks, kept on a shelf (analyze_tasks.py) as they change, so a restarted
    server still answers for them: a task cut short ends `failed` with that reason, never
    `processing` forever. Without a shelf (tests, one-off apps), in memory.

    A private shelf (one server) is read whole at start, and what was unfinished then was cut short
    by the restart. A shared shelf (replicas of one server) is read per request, since another
    replica may run the task; each replica beats a heartbeat on the tasks it runs, and a task whose
    heartbeat stopped for `STALE_AFTER_S` was cut short (its replica stopped)."""

    HEARTBEAT_S = 10.0
    STALE_AFTER_S = 60.0

    def __init__(self, shelf: TaskShelf | None = None) -> None:
        self._tasks: dict[str, dict[str, Any]] = {}  # this process's tasks (all of them, on a private shelf)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=TASK_WORKERS, thread_name_prefix="sceneline-analyze-task")
        self._shelf = shelf
        self._running: set[str] = set()
        if shelf is not None and shelf.shared:
            threading.Thread(target=self._beat, name="sceneline-analyze-heartbeat", daemon=True).start()
        elif shelf is not None:
            self._tasks = {task["task_id"]: task for task in shelf.all()}
            for task_id, task in self._tasks.items():
                if task["status"] in UNFINISHED_TASK:
                    self._update(task_id, **_interrupted())

    def submit(self, body: AnalyzeBody, run: Callable[[], Any]) -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        task = {"task_id": task_id, "status": "queued", "created_at": _now(), "heartbeat_at": time.time(),
                "video_source": {"type": "asset_id", "asset_id": body.video_ref()},
                "request_params": {"prompt": body.prompt, "temperature": body.temperature,
                                   "max_tokens": body.max_tokens}}
        with self._lock:
            self._tasks[task_id] = task
            self._running.add(task_id)
            self._keep(task)
        self._pool.submit(self._run, task_id, run)
        return {"task_id": task_id, "status": "queued"}

    def _run(self, task_id: str, run: Callable[[], Any]) -> None:
        try:
            self._update(task_id, status="processing")
            try:
                result = run()
            except Exception as exc:  # the task fails with a reason; the server goes on
                error = api_error(exc)
                self._update(task_id, status="failed", completed_at=_now(),
                             error={"code": error.code, "message": error.message})
                return
            self._update(task_id, status="ready", completed_at=_now(), result={
                "generation_id": result.generation_id, "data": result.text, "finish_reason": result.finish_reason,
                "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens}})
        finally:
            with self._lock:
                self._running.discard(task_id)

    def _beat(self) -> None:
        while True:
            time.sleep(self.HEARTBEAT_S)
            with self._lock:
                running = list(self._running)
            for task_id in running:
                try:
                    self._update(task_id, heartbeat_at=time.time())
                except Exception:  # a shelf that is down now: the next beat tries again
                    log.warning("could not beat the heartbeat of analyze task %s", task_id, exc_info=True)

    def _update(self, task_id: str, **changes: Any) -> None:
        with self._lock:
            self._tasks[task_id].update(changes)
            self._keep(self._tasks[task_id])

    def _keep(self, task: dict[str, Any]) -> None:
        if self._shelf is not None:
            self._shelf.keep(task)

    def get(self, task_id: str) -> dict[str, Any] | None:
        if self._shelf is None or not self._shelf.shared:
            with self._lock:
                task = self._tasks.get(task_id)
                return _public(task) if task else None
        with self._lock:
            if task_id in self._running:  # this replica runs it: what it holds is the latest
                return _public(self._tasks[task_id])
        task = self._shelf.get(task_id)
        if task is None:
            return None
        if task["status"] in UNFINISHED_TASK and time.time() - task.get("heartbeat_at", 0) > self.STALE_AFTER_S:
            task.update(_interrupted())  # its replica stopped beating: it will never finish
            self._shelf.keep(task)
        return _public(task)


UNFINISHED_TASK = ("queued", "processing")


def _interrupted() -> dict[str, Any]:
    return {"status": "failed", "completed_at": _now(), "error": {
        "code": "task_interrupted", "message": "the server stopped while this task ran; create the task again"}}


def _public(task: dict[str, Any]) -> dict[str, Any]:
    """A task as the API shows it: without the replicas' heartbeat."""
    return {k: v for k, v in task.items() if k != "heartbeat_at"}


# ---- the router --------------------------------------------------------------------------------
def _ndjson(event: dict[str, Any]) -> bytes:
    return (json.dumps(event) + "\n").encode()


Locator = Callable[[str], "tuple[Any, str]"]  # a video reference -> (its SceneStore, its asset id)


def store_locator(store: Any) -> Locator:
    """Every video in one store, named by its asset id (or the path it was indexed from)."""
    return lambda ref: (store, ref)


def build_router(locate: Locator, open_generator: Callable[[], Generator], *,
                 settings: AnalysisSettings = AnalysisSettings(), cache: AnswerCache | None = None,
                 reel_dir: str | None = None, tasks_path: Path | None = None,
                 task_shelf: TaskShelf | None = None) -> APIRouter:
    """The routes; `locate` finds a video's store and asset id (raising VideoNotFoundError), e.g.
    `store_locator(store)`. The generator is loaded on first use, so a server starts without its
    analyzer and reports it unavailable per request until it can be had. `task_shelf` (or a
    sqlite file at `tasks_path`): where background tasks are kept across restarts (see TaskBook)."""
    router = APIRouter(prefix=PREFIX, tags=["analyze"])
    tasks = TaskBook(task_shelf or (SqliteTaskShelf(tasks_path) if tasks_path is not None else None))
    holder: dict[str, Generator] = {}
    holder_lock = threading.Lock()

    def generator() -> Generator:
        with holder_lock:
            if "g" not in holder:
                holder["g"] = open_generator()
            return holder["g"]

    def analyzer_for(ref: str) -> tuple[Analyzer, str]:
        store, asset_id = locate(ref)
        return Analyzer(store, generator(), settings, cache), asset_id

    def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            return api_error(exc).response()

    @router.post("/analyze")
    def analyze(body: Any = Body(...)):
        def run():
            parsed = _parse(AnalyzeBody, body)
            ref, request = parsed.video_ref(), parsed.request()
            if parsed.stream:
                return _stream(ref, request)
            a, asset_id = analyzer_for(ref)
            result = a.analyze(asset_id, request)
            return {"id": result.generation_id, "data": result.text, "finish_reason": result.finish_reason,
                    "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens}}
        return guarded(run)

    def _stream(ref: str, request: AnalysisRequest):
        # Errors before the first event are plain HTTP errors; the generator is primed here.
        store, asset_id = locate(ref)
        load_video(store, asset_id)  # an unknown video is a 404 before the analyzer is needed
        a = Analyzer(store, generator(), settings, cache)
        pieces = a.analyze_stream(asset_id, request)
        first = next(pieces, None)  # reaches the analyzer: a down endpoint is a 503 here
        generation_id = uuid.uuid4().hex

        def events() -> Iterator[bytes]:
            yield _ndjson({"event_type": "stream_start", "metadata": {"generation_id": generation_id}})
            count = 0
            end: dict[str, Any] = {"event_type": "stream_end", "finish_reason": "stop",
                                   "metadata": {"generation_id": generation_id}}
            try:
                if first is not None:
                    count += 1
                    yield _ndjson({"event_type": "text_generation", "text": first})
                for piece in pieces:
                    count += 1
                    yield _ndjson({"event_type": "text_generation", "text": piece})
            except Exception as exc:  # the stream broke after it began: say so in its last event
                error = api_error(exc)
                end["error"] = {"code": error.code, "message": error.message}
            end["metadata"]["usage"] = {"output_tokens": count}
            yield _ndjson(end)

        return StreamingResponse(events(), media_type="application/x-ndjson")

    @router.post("/analyze/tasks")
    def create_task(body: Any = Body(...)):
        def run():
            parsed = _parse(AnalyzeBody, body)
            ref, request = parsed.video_ref(), parsed.request()
            store, asset_id = locate(ref)
            load_video(store, asset_id)  # an unknown video is the request's 404, not a failed task
            return JSONResponse(tasks.submit(parsed, lambda: Analyzer(store, generator(), settings, cache)
                                             .analyze(asset_id, request)), status_code=201)
        return guarded(run)

    @router.get("/analyze/tasks/{task_id}")
    def get_task(task_id: str):
        task = tasks.get(task_id)
        if task is None:
            return ApiError(404, "task_not_found", f"no analysis task {task_id}").response()
        return task

    @router.post("/summarize")
    def summarize(body: Any = Body(...)):
        def run():
            parsed = _parse(SummarizeBody, body)
            a, asset_id = analyzer_for(parsed.video_id)
            result = a.summarize(asset_id, parsed.type, prompt=parsed.prompt,
                                          temperature=parsed.temperature, max_tokens=parsed.max_tokens)
            result.pop("cached", None)
            return result
        return guarded(run)

    @router.post("/gist")
    def gist(body: Any = Body(...)):
        def run():
            parsed = _parse(GistBody, body)
            a, asset_id = analyzer_for(parsed.video_id)
            result = a.gist(asset_id, list(parsed.types))
            result.pop("cached", None)
            return result
        return guarded(run)

    @router.post("/reels")
    def reel(body: Any = Body(...)):
        def run():
            from sceneline.pipelines.reel import reel_spans, render_reel

            parsed = _parse(ReelBody, body)
            store, asset_id = locate(parsed.video_id)
            video = load_video(store, asset_id)
            a = Analyzer(store, generator(), settings, cache) if parsed.scenes is None and parsed.spans is None else None
            spans = reel_spans(video, scenes=parsed.scenes,
                               spans=[(s.start, s.end) for s in parsed.spans] if parsed.spans else None,
                               analyzer=a)
            folder = Path(reel_dir or tempfile.gettempdir())
            out = folder / f"reel-{uuid.uuid4().hex}.mp4"
            try:
                render_reel(video.uri, spans, out)
            except BaseException:
                out.unlink(missing_ok=True)
                raise
            return FileResponse(out, media_type="video/mp4", filename=f"{video.asset_id}-reel.mp4",
                                background=BackgroundTask(out.unlink, missing_ok=True))
        return guarded(run)

    return router
