"""Every sceneline knob in one PipelineOptions subclass; the CLI is a thin shell over it."""

from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from typing import TypeVar

from pydantic import ValidationError

from sceneline.pipelines.understanding import UnderstandingConfig
from sceneline.schemas.bucket_root import BucketRoot
from sceneline.schemas.failures import UserError
from sceneline.schemas.limits import Limits
from sceneline.schemas.settings import (
    PIPELINE_GROUPS as SETTINGS_GROUPS,
    AnalysisSettings,
    BatchSettings,
    ModelSettings,
    SettingsGroup,
    StoreSettings,
    UnderstandingSettings,
)
from sceneline.transforms.media.analyze import AnalysisConfig
from sceneline.transforms.models.caption_spec import CaptionerConfig, EndpointSettings
from sceneline.transforms.models.model_spec import ClipSpec
from sceneline.transforms.models.ocr import OcrConfig
from sceneline.transforms.models.transcriber import TranscriberConfig
from sceneline.transforms.store.scene_store import StoreConfig, store_config

G = TypeVar("G", bound=SettingsGroup)
DEFAULT_RUNNER = BatchSettings.default("runner")
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


# The groups of settings the pipelines read (schemas/settings.py); each field is a flag.
PIPELINE_GROUPS: tuple[type[SettingsGroup], ...] = (*SETTINGS_GROUPS, Limits)


class SceneLineOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        g = parser.add_argument_group("sceneline")
        g.add_argument("--input", action="append", default=[],
                       help="File, folder, glob or gs:// prefix to index (repeatable).")
        added: set[str] = set()
        for group in PIPELINE_GROUPS:
            add_settings_args(parser, group, added)


def add_settings_args(parser, group: type[SettingsGroup], added: set[str]) -> None:
    """One argparse flag per declared setting (Beam's own, such as --runner, left to Beam)."""
    g = parser.add_argument_group(f"sceneline {group.__name__}", group.__doc__)
    for name, info in group.model_fields.items():
        flag = group.flag(name)
        if flag in added or (info.json_schema_extra or {}).get("beam_owned"):
            continue
        added.add(flag)
        if info.annotation is bool:
            g.add_argument(f"--{flag}", dest=flag, action="store_true", default=info.default, help=info.description)
            g.add_argument(f"--no_{flag}", dest=flag, action="store_false")
            continue
        g.add_argument(f"--{flag}", type=_scalar(info.annotation), default=info.default,
                       choices=(info.json_schema_extra or {}).get("choices"),
                       help=f"{info.description} Default {info.default}.")


def _scalar(annotation) -> type:
    # Optional[str] -> str: argparse needs the type that converts one value.
    return next((a for a in getattr(annotation, "__args__", ()) if a is not type(None)), annotation)


def settings_from(opts: PipelineOptions, group: type[G]) -> G:
    """A group of settings as the pipeline's options hold them; a value its declaration refuses
    (given as a Beam flag, which Beam only parses) is the user's to fix."""
    o = opts.view_as(SceneLineOptions).get_all_options()
    try:
        return group(**{name: o[group.flag(name)] for name in group.model_fields
                        if not (group.model_fields[name].json_schema_extra or {}).get("beam_owned")})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise UserError(f"--{group.flag(str(error['loc'][0]))}: {error['msg']}") from None


def limits_from(opts: PipelineOptions) -> Limits:
    return settings_from(opts, Limits)


def understanding_config_from(opts: PipelineOptions) -> UnderstandingConfig:
    u, m = settings_from(opts, UnderstandingSettings), settings_from(opts, ModelSettings)
    captioner = CaptionerConfig(
        spec=u.captioner, category=u.category,
        endpoint=EndpointSettings(base_url=u.captioner_url, api_key=u.captioner_api_key,
                                  concurrency=u.captioner_concurrency, timeout_s=u.captioner_timeout,
                                  attempts=u.captioner_attempts, response_format=u.captioner_response_format),
        max_new_tokens=u.captioner_max_tokens, batch_scenes=u.caption_batch_scenes, device=m.model_device,
        num_threads=m.torch_threads or None)
    ocr = OcrConfig(min_confidence=u.ocr_min_confidence, gate_side=u.ocr_gate_side) if u.ocr else None
    transcriber = TranscriberConfig(spec=u.transcriber, language=u.language or None, device=m.model_device,
                                    cpu_threads=m.torch_threads or 0)
    return UnderstandingConfig(captioner=captioner, ocr=ocr, text_model=u.text_model, device=m.model_device,
                               transcriber=transcriber)


def store_config_from(opts: PipelineOptions) -> StoreConfig:
    s = settings_from(opts, StoreSettings)
    config = store_config(s.qdrant_path, s.qdrant_url, s.qdrant_api_key, s.collection)
    api_media_root = opts.view_as(SceneLineOptions).api_media_root
    if api_media_root:  # a stream that indexes `sceneline serve`'s uploads: one collection per API index
        config = dataclasses.replace(config, index_root=BucketRoot.parse(api_media_root))
    return config


def analysis_config_from(opts: PipelineOptions) -> AnalysisConfig:
    a = settings_from(opts, AnalysisSettings)
    return AnalysisConfig(detector=a.detector, keyframe_max_side=a.keyframe_max_side,
                          decode_threads=a.decode_threads, hwaccel=a.hwaccel, segment_s=a.segment_s,
                          limits=limits_from(opts))


def embedding_handler_from(opts: PipelineOptions, spec: ClipSpec, *, batch_wait_s: float | None = None):
    """The RunInference handler for image embeddings. Every batch fills up to the batch size from
    what has arrived (a bundle, or what came within `batch_wait_s` on runners that batch across
    bundles). Batch runs too: Beam's default of starting at one image and doubling sent the
    model its first images one, two and four at a time, at up to twice the CPU per image of a
    full batch (docs/benchmarks.md)."""
    from sceneline.transforms.models.embed import ClipImageEmbeddingHandler

    m = settings_from(opts, ModelSettings)
    return ClipImageEmbeddingHandler(spec, device=m.model_device, max_batch_images=m.embed_batch_images,
                                     max_batch_duration_secs=batch_wait_s, num_threads=m.torch_threads or None)


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
