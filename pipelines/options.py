"""Every sceneline knob in one PipelineOptions subclass; the CLI is a thin shell over it."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from sceneline.transforms.media.analyze import DEFAULT_SEGMENT_S, AnalysisConfig
from sceneline.transforms.media.detection import DEFAULT_DETECTOR
from sceneline.transforms.media.keyframes import KEYFRAME_MAX_SIDE
from sceneline.transforms.models.model_spec import DEFAULT_VISUAL_MODEL
from sceneline.transforms.store.scene_store import DEFAULT_COLLECTION, DEFAULT_LOCAL_PATH, StoreConfig, store_config
from sceneline.pipelines.understanding import UnderstandingConfig
from sceneline.schemas.limits import LIMIT_FLAGS, Limits
from sceneline.transforms.models.caption_prompt import CATEGORIES, DEFAULT_CATEGORY
from sceneline.transforms.models.caption_spec import DEFAULT_CAPTIONER, RESPONSE_FORMATS, CaptionerConfig, EndpointSettings
from sceneline.transforms.models.ocr import OcrConfig
from sceneline.transforms.models.text_model import DEFAULT_TEXT_MODEL
from sceneline.transforms.models.transcriber import DEFAULT_TRANSCRIBER, TranscriberConfig

DEFAULT_HOME = ".sceneline"
DEFAULT_RUNNER = "FnApiRunner"
DASK_RUNNER = "sceneline.pipelines.dask_runner.DaskRunner"

# Short runner names users type, mapped to what Beam needs (Beam does not register DaskRunner).
RUNNER_ALIASES = {
    "fnapirunner": "FnApiRunner",
    "fnapi": "FnApiRunner",
    "direct": "FnApiRunner",
    "directrunner": "FnApiRunner",  # Beam's DirectRunner tries to download Prism first
    "bundlebaseddirectrunner": "BundleBasedDirectRunner",
    "dataflow": "DataflowRunner",
    "dataflowrunner": "DataflowRunner",
    "flink": "FlinkRunner",
    "flinkrunner": "FlinkRunner",
    "portable": "PortableRunner",
    "portablerunner": "PortableRunner",
    # sceneline's DaskRunner: Beam's prototype loses tagged outputs and finish_bundle output
    # (see pipelines/dask_runner.py), so Beam's own path is routed there too.
    "dask": DASK_RUNNER,
    "daskrunner": DASK_RUNNER,
    "apache_beam.runners.dask.dask_runner.daskrunner": DASK_RUNNER,
}


def resolve_runner(name: str | None) -> str:
    if not name:
        return DEFAULT_RUNNER
    return RUNNER_ALIASES.get(name.lower(), name)


class SceneLineOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        g = parser.add_argument_group("sceneline")
        g.add_argument("--input", action="append", default=[],
                       help="File, folder, glob or gs:// prefix to index (repeatable).")
        g.add_argument("--qdrant_path", default=None,
                       help=f"Local Qdrant folder, or ':memory:' (default {DEFAULT_LOCAL_PATH}).")
        g.add_argument("--qdrant_url", default=None, help="Qdrant server URL (instead of a local folder).")
        g.add_argument("--qdrant_api_key", default=None, help="API key for a Qdrant server.")
        g.add_argument("--collection", default=DEFAULT_COLLECTION, help="Scenes collection name.")
        g.add_argument("--visual_model", default=DEFAULT_VISUAL_MODEL,
                       help="Image embedding model, ARCH:PRETRAINED (see README), or 'none'.")
        g.add_argument("--offline", action="store_true", default=False,
                       help="Never reach for a model hub; missing weights fail at once.")
        g.add_argument("--model_device", default="cpu", help="Device for models: cpu or cuda.")
        g.add_argument("--embed_batch_images", type=int, default=32, help="Images per model batch.")
        g.add_argument("--torch_threads", type=int, default=0, help="Torch threads (0: torch decides).")
        g.add_argument("--detector", default=DEFAULT_DETECTOR, help="Shot detector name.")
        g.add_argument("--keyframe_max_side", type=int, default=KEYFRAME_MAX_SIDE)
        g.add_argument("--decode_threads", type=int, default=0, help="FFmpeg decode threads (0: auto).")
        g.add_argument("--segment_s", type=float, default=DEFAULT_SEGMENT_S,
                       help="Videos at least twice this long are analysed in segments of about this many "
                            "seconds, spread over workers (0: never split).")
        g.add_argument("--thumbnails", default=f"{DEFAULT_HOME}/thumbnails",
                       help="Folder or gs:// prefix for scene thumbnails.")
        g.add_argument("--dead_letter", default=f"{DEFAULT_HOME}/dead_letters",
                       help="Folder or gs:// prefix for dead letters (JSON lines).")
        g.add_argument("--run_dir", default=f"{DEFAULT_HOME}/runs",
                       help="Folder or gs:// prefix for each run's outcome records.")
        # Scale-out: GPU decoding and a local dask cluster (README "Running at scale").
        g.add_argument("--hwaccel", default=None,
                       help="Hardware video decoding (e.g. cuda); software when the device is missing.")
        g.add_argument("--dask_workers", type=int, default=0,
                       help="DaskRunner without --dask_client_address: worker processes of the local "
                            "cluster started for the run (0: one per CPU core).")
        _add_understanding_args(parser)
        _add_stream_args(parser)
        _add_limit_args(parser)


# ---- scene understanding (captions, visible text, text vectors) -----------------------------
def _add_understanding_args(parser) -> None:
    g = parser.add_argument_group("sceneline understanding")
    g.add_argument("--captioner", default=DEFAULT_CAPTIONER,
                   help="Vision-language model for descriptions and tags: a hub id, local-dir:DIR, a "
                        "path, gs://prefix/, openai:MODEL (an OpenAI-compatible endpoint), or 'none'.")
    g.add_argument("--category", default=DEFAULT_CATEGORY,
                   help=f"Content category prompt preset ({', '.join(CATEGORIES)}); an asset's own "
                        "metadata `category` wins.")
    g.add_argument("--captioner_url", default="",
                   help="Base URL of the chat-completions endpoint (default $OPENAI_BASE_URL or OpenAI's).")
    g.add_argument("--captioner_api_key", default=None,
                   help="API key for the endpoint (default $SCENELINE_CAPTIONER_API_KEY or $OPENAI_API_KEY).")
    g.add_argument("--captioner_concurrency", type=int, default=4, help="Requests in flight per worker process.")
    g.add_argument("--captioner_timeout", type=float, default=120.0, help="Seconds to wait for one answer.")
    g.add_argument("--captioner_attempts", type=int, default=4, help="Tries per request on transient errors.")
    g.add_argument("--captioner_response_format", default="json_schema", choices=list(RESPONSE_FORMATS),
                   help="How to ask the endpoint for JSON (json_schema, json_object, or none).")
    g.add_argument("--captioner_max_tokens", type=int, default=192, help="Longest answer, in tokens.")
    g.add_argument("--caption_batch_scenes", type=int, default=8, help="Scenes per captioner batch.")
    g.add_argument("--ocr", dest="ocr", action="store_true", default=True, help="Read visible text (default).")
    g.add_argument("--no_ocr", dest="ocr", action="store_false", help="Do not read visible text.")
    g.add_argument("--ocr_min_confidence", type=float, default=OcrConfig.min_confidence)
    g.add_argument("--text_model", default=DEFAULT_TEXT_MODEL,
                   help="Sentence model for the `text` vector: a name or hub id, a path, gs://prefix/, or 'none'.")
    g.add_argument("--transcriber", default=DEFAULT_TRANSCRIBER,
                   help="Speech model (faster-whisper): a name (tiny.en, small, large-v3, ...), a hub id, a "
                        "CTranslate2 folder, gs://prefix/, or 'none'.")
    g.add_argument("--language", default=None,
                   help="Spoken language (ISO code, e.g. en); default: detected where the model can.")


# ---- the streaming index (`sceneline stream`, pipelines/stream_index.py) ------------------------
def _add_stream_args(parser) -> None:
    g = parser.add_argument_group("sceneline stream")
    g.add_argument("--subscription", default=None,
                   help="Pub/Sub subscription of the bucket's notifications, projects/P/subscriptions/S. "
                        "--dead_letter may name a topic, projects/P/topics/T, instead of a folder.")
    g.add_argument("--embed_batch_wait_s", type=int, default=1,
                   help="Longest wait in seconds for a model batch to fill (RunInference "
                        "max_batch_duration_secs; runners with watermarks, such as Dataflow).")
    g.add_argument("--max_leased_messages", type=int, default=64,
                   help="Local runner: messages held (received, not yet acknowledged) at once.")
    g.add_argument("--lease_extension_s", type=int, default=60,
                   help="Local runner: longest ack-deadline extension, 10-600 s; after a crash, "
                        "Pub/Sub redelivers held messages within about this time.")


# ---- limits on one asset (schemas/limits.py) -----------------------------------------------
LIMIT_HELP = {
    "max_bytes": "Largest file, in bytes.",
    "max_duration_s": "Longest video, in seconds (stated by the container or reached while decoding).",
    "max_pixels": "Most pixels in one frame or image (also Pillow's decompression-bomb guard).",
    "max_frames": "Most frames decoded from one video.",
    "time_budget_s": "Longest time to analyse one asset, in seconds (each segment of a long video).",
}


def _add_limit_args(parser) -> None:
    g = parser.add_argument_group("sceneline limits (an asset past one fails, naming it)")
    for name, info in Limits.model_fields.items():
        g.add_argument(f"--{LIMIT_FLAGS[name]}", type=info.annotation, default=info.default,
                       help=f"{LIMIT_HELP[name]} Default {info.default}.")
    batch = parser.add_argument_group("sceneline batch")
    batch.add_argument("--resume", action="store_true", default=False,
                       help="Skip assets the store already holds as indexed (same content, same "
                            "collection, so the same models); re-run only what is missing or failed.")


def limits_from(opts: PipelineOptions) -> Limits:
    o = opts.view_as(SceneLineOptions)
    return Limits(**{name: getattr(o, LIMIT_FLAGS[name]) for name in Limits.model_fields})


def understanding_config_from(opts: PipelineOptions) -> UnderstandingConfig:
    o = opts.view_as(SceneLineOptions)
    captioner = CaptionerConfig(
        spec=o.captioner, category=o.category,
        endpoint=EndpointSettings(base_url=o.captioner_url, api_key=o.captioner_api_key,
                                  concurrency=o.captioner_concurrency, timeout_s=o.captioner_timeout,
                                  attempts=o.captioner_attempts, response_format=o.captioner_response_format),
        max_new_tokens=o.captioner_max_tokens, batch_scenes=o.caption_batch_scenes, device=o.model_device,
        num_threads=o.torch_threads or None)
    ocr = OcrConfig(min_confidence=o.ocr_min_confidence) if o.ocr else None
    transcriber = TranscriberConfig(spec=o.transcriber, language=o.language or None, device=o.model_device,
                                    cpu_threads=o.torch_threads or 0)
    return UnderstandingConfig(captioner=captioner, ocr=ocr, text_model=o.text_model, device=o.model_device,
                               transcriber=transcriber)

def store_config_from(opts: PipelineOptions) -> StoreConfig:
    o = opts.view_as(SceneLineOptions)
    return store_config(o.qdrant_path, o.qdrant_url, o.qdrant_api_key, o.collection)


def analysis_config_from(opts: PipelineOptions) -> AnalysisConfig:
    o = opts.view_as(SceneLineOptions)
    return AnalysisConfig(detector=o.detector, keyframe_max_side=o.keyframe_max_side,
                          decode_threads=o.decode_threads, hwaccel=o.hwaccel, segment_s=o.segment_s,
                          limits=limits_from(opts))


def embedding_handler_from(opts: PipelineOptions, spec: str, *, streaming: bool = False,
                           batch_wait_s: float | None = None):
    """The RunInference handler for image embeddings. Streaming, a batch fills up to the batch
    size from what has arrived (a bundle, or what came within `batch_wait_s` on runners that
    batch across bundles) instead of starting small and growing as batch runs do."""
    from sceneline.transforms.models.embed import ClipImageEmbeddingHandler

    o = opts.view_as(SceneLineOptions)
    return ClipImageEmbeddingHandler(spec, device=o.model_device, max_batch_images=o.embed_batch_images,
                                     min_batch_images=o.embed_batch_images if streaming else 1,
                                     max_batch_duration_secs=batch_wait_s, num_threads=o.torch_threads or None)


def runner_of(opts: PipelineOptions) -> str:
    return resolve_runner(opts.view_as(StandardOptions).runner)


IN_PROCESS_RUNNERS = {"FnApiRunner", "BundleBasedDirectRunner", "DirectRunner", "SwitchingDirectRunner",
                      "TestDirectRunner"}
LOCAL_MULTIPROCESS_RUNNERS = {DASK_RUNNER, "PrismRunner"}


def workers_share_this_process(opts: PipelineOptions) -> bool:
    """Whether every worker runs inside the launching process (threads, not processes)."""
    from apache_beam.options.pipeline_options import DirectOptions

    runner = runner_of(opts)
    if runner not in IN_PROCESS_RUNNERS:
        return False
    return opts.view_as(DirectOptions).direct_running_mode != "multi_processing"


def workers_on_this_machine(opts: PipelineOptions) -> bool:
    """Whether workers run on this machine (so they can reach a service on 127.0.0.1)."""
    if runner_of(opts) == DASK_RUNNER:
        return _dask_scheduler_is_local(opts)
    if workers_share_this_process(opts) or runner_of(opts) in LOCAL_MULTIPROCESS_RUNNERS:
        return True
    return runner_of(opts) in IN_PROCESS_RUNNERS  # FnApiRunner in multi_processing mode


def _dask_scheduler_is_local(opts: PipelineOptions) -> bool:
    """A cluster started for the run, or a scheduler on this machine (its workers may still be
    elsewhere, but a scheduler on loopback only admits local ones)."""
    from urllib.parse import urlparse

    from apache_beam.runners.dask.dask_runner import DaskOptions

    dask = opts.view_as(DaskOptions)
    if dask.scheduler_file:
        return False
    if not dask.address:
        return True
    host = urlparse(dask.address if "://" in dask.address else f"tcp://{dask.address}").hostname
    return host in ("127.0.0.1", "localhost", "::1")


def must_wait(opts: PipelineOptions) -> bool:
    """Whether the launcher waits for the run: unless asked not to (Beam's
    --no_wait_until_finish, which Flex Templates need), and always while it serves the
    workers a local folder."""
    return not opts.view_as(StandardOptions).no_wait_until_finish or workers_on_this_machine(opts)
