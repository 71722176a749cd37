"""The options several commands share, listed once (each declared in schemas/settings.py).

A command takes a set with `@with_options(*SET)` and receives its values as `**settings`."""

from __future__ import annotations

from sceneline.pipelines.cli.common import declared
from sceneline.schemas.limits import Limits
from sceneline.schemas.settings import (
    AnalysisSettings,
    AnalyzerSettings,
    ModelSettings,
    OutputSettings,
    StoreSettings,
    StreamSettings,
    UnderstandingSettings,
)

STORE_OPTIONS = declared(StoreSettings, "qdrant_path", "qdrant_url", "qdrant_api_key", "collection")
# What the index chain runs: models, shot detection, understanding.
INDEX_CHAIN_OPTIONS = (
    declared(ModelSettings, "visual_model")
    + declared(AnalysisSettings, "detector")
    + declared(UnderstandingSettings, "captioner", "ocr", "text_model", "category", "captioner_url",
               "captioner_concurrency", "captioner_timeout", "transcriber", "language")
    + declared(ModelSettings, "offline"))
OUTPUT_OPTIONS = declared(OutputSettings, "thumbnails", "dead_letter")
LIMIT_OPTIONS = declared(Limits, "max_bytes", "max_duration_s", "max_pixels", "max_frames", "time_budget_s")
# The chat model behind analyze, summarize, gist and the API's /analyze.
ANALYZER_OPTIONS = declared(AnalyzerSettings, "analyzer", "analyzer_url", "analyzer_api_key", "analyzer_concurrency",
                            "analyzer_timeout", "context_tokens", "keyframes")
# What a command about one indexed video (analyze, summarize, gist, ask, reel) takes.
ANALYZE_OPTIONS = (*ANALYZER_OPTIONS, *STORE_OPTIONS, *declared(ModelSettings, "offline"))
# What a job launched on a cluster (launch dataflow, launch flink) takes besides its target.
LAUNCH_OPTIONS = (*declared(StreamSettings, "subscription"),
                  *declared(StoreSettings, "qdrant_url", "qdrant_api_key", "collection"),
                  *declared(ModelSettings, "visual_model"))
