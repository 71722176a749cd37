"""/healthz (liveness and what the server holds) and /metrics (Prometheus text)."""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sceneline.pipelines.server.records import FAILED, INDEXING, PENDING, READY

router = APIRouter(tags=["health"])


class ServerMetrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sceneline_api_requests", "API requests answered.", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("sceneline_api_request_seconds", "Time to answer an API request.", ["route"],
                                 registry=self.registry)
        self.tasks = Gauge("sceneline_api_tasks", "Tasks by status.", ["status"], registry=self.registry)
        self.running = Gauge("sceneline_api_index_runs", "Indexing runs in progress.", registry=self.registry)
        self.queued = Gauge("sceneline_api_index_queue", "Uploads waiting for an indexing run.",
                            registry=self.registry)


@router.get("/healthz")
def healthz(request: Request) -> dict:
    state = request.app.state
    return {"status": "ok", "indexes": len(state.records.indexes()), "index_runs": state.indexer.busy,
            "queued": state.indexer.queued}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    state = request.app.state
    m: ServerMetrics = state.metrics
    counts = {s: 0 for s in (PENDING, INDEXING, READY, FAILED)}
    for row in state.records.videos():
        counts[row.status] = counts.get(row.status, 0) + 1
    for status, count in counts.items():
        m.tasks.labels(status=status).set(count)
    m.running.set(state.indexer.busy)
    m.queued.set(state.indexer.queued)
    return PlainTextResponse(generate_latest(m.registry).decode(), media_type=CONTENT_TYPE_LATEST)
