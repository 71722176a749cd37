"""Every sceneline knob in one PipelineOptions subclass; the CLI is a thin shell over it."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from sceneline.transforms.analyze import DEFAULT_SEGMENT_S, AnalysisConfig
from sceneline.transforms.detection import DEFAULT_DETECTOR
from sceneline.transforms.keyframes import KEYFRAME_MAX_SIDE
from sceneline.transforms.model_spec import DEFAULT_VISUAL_MODEL
from sceneline.transforms.store import DEFAULT_COLLECTION, DEFAULT_LOCAL_PATH, StoreConfig, store_config

DEFAULT_HOME = ".sceneline"
DEFAULT_RUNNER = "FnApiRunner"

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
    "dask": "apache_beam.runners.dask.dask_runner.DaskRunner",
    "daskrunner": "apache_beam.runners.dask.dask_runner.DaskRunner",
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


def store_config_from(opts: PipelineOptions) -> StoreConfig:
    o = opts.view_as(SceneLineOptions)
    return store_config(o.qdrant_path, o.qdrant_url, o.qdrant_api_key, o.collection)


def analysis_config_from(opts: PipelineOptions) -> AnalysisConfig:
    o = opts.view_as(SceneLineOptions)
    return AnalysisConfig(detector=o.detector, keyframe_max_side=o.keyframe_max_side,
                          decode_threads=o.decode_threads, segment_s=o.segment_s)


def runner_of(opts: PipelineOptions) -> str:
    return resolve_runner(opts.view_as(StandardOptions).runner)
