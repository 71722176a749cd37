"""`sceneline launch dataflow|flink` and `sceneline init-index`: running at scale.

The launch commands turn a few settings into a launch plan (pipelines/launch.py), print it
as data with --dry-run, or hand it to the pipeline's run(). init-index creates the collections
on a Qdrant server before any worker starts, so workers never race to create them.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

import typer

from sceneline.pipelines.cli.common import (
    BeamArgs,
    configure_logging,
    err,
    option,
    out,
    run_guarded,
    split_beam_flags,
    with_options,
)
from sceneline.pipelines.cli.option_sets import LAUNCH_OPTIONS
from sceneline.transforms.io.gcp_env import require_cloud_credentials
from sceneline.schemas.settings import ModelSettings, StoreSettings, UnderstandingSettings

launch_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Run the index pipelines on Dataflow or Flink (see docs/scale.md).")

Inputs = typer.Argument(None, help="Files or prefixes to index (gs://...) for a batch job; none with --subscription.")
Detach = typer.Option(False, "--detach", help="Batch: return once the job is submitted.")
DryRun = typer.Option(False, "--dry-run", "--print-options",
                      help="Print the pipeline options as JSON and submit nothing.")


def _launch(plan, dry_run: bool) -> None:
    if dry_run:
        out.print_json(json.dumps(plan.as_data()))
        return
    for note in plan.notes:
        err.print(note, highlight=False)
    result = run_guarded(plan.run)
    if hasattr(result, "run_id") and result.outcomes:
        err.print(f"run {result.run_id}: {len(result.outcomes)} assets, {result.scene_count} scenes")
    else:
        err.print("submitted; follow it in the runner's console (docs/scale.md)")


def _job(inputs: list[str], beam_flags: list[str], output_prefix: str, **shared):
    # Launch plans parse Beam's options: Beam loads when a launch command runs, not at CLI start.
    from sceneline.pipelines.launch import Job

    return Job(inputs=tuple(inputs), extra=tuple(beam_flags), output_prefix=output_prefix, **shared)


@launch_app.command()
@with_options(*LAUNCH_OPTIONS)
def dataflow(
    inputs: Optional[List[str]] = Inputs,
    project: str = typer.Option(..., "--project", envvar="GOOGLE_CLOUD_PROJECT"),
    region: str = typer.Option(..., "--region"),
    bucket: str = typer.Option(..., "--bucket", help="gs://BUCKET or gs://BUCKET/PREFIX, for temp, staging and sceneline's output."),
    image: Optional[str] = typer.Option(None, "--image", help="Worker image from deploy/dataflow/Dockerfile."),
    gpu: str = typer.Option("nvidia-l4", "--gpu", help="GPU type per worker, or 'none' for CPU workers."),
    gpu_count: int = typer.Option(1, "--gpu-count", min=1),
    gpu_sharing: str = typer.Option("process", "--gpu-sharing",
                                    help="process: one SDK process per VM; mps: a process per vCPU via NVIDIA MPS."),
    machine_type: Optional[str] = typer.Option(None, "--machine-type"),
    max_workers: int = typer.Option(10, "--max-workers", min=1),
    job_name: Optional[str] = typer.Option(None, "--job-name"),
    service_account: Optional[str] = typer.Option(None, "--service-account"),
    subnetwork: Optional[str] = typer.Option(None, "--subnetwork"),
    detach: bool = Detach,
    dry_run: bool = DryRun,
    beam_args: Optional[List[str]] = BeamArgs,
    **settings: Any,
) -> None:
    """Launch on Dataflow with GPU workers (flags for Beam: --beam-arg NAME=VALUE, or after `--`)."""
    from sceneline.pipelines.launch import DataflowTarget, dataflow_plan  # Beam: see _job

    configure_logging(False)
    inputs, beam_flags = split_beam_flags(inputs, beam_args)
    if not dry_run:  # without credentials Beam retries for minutes before it says so
        run_guarded(require_cloud_credentials, "launch dataflow")
    target = DataflowTarget(
        project=project, region=region, bucket=bucket, image=image,
        gpu_type=None if gpu.lower() == "none" else gpu, gpu_count=gpu_count, gpu_sharing=gpu_sharing,
        machine_type=machine_type, max_workers=max_workers, job_name=job_name,
        service_account=service_account, subnetwork=subnetwork)
    job = _job(inputs, beam_flags, f"{bucket.rstrip('/')}/sceneline", detach=detach, **settings)
    _launch(run_guarded(dataflow_plan, job, target), dry_run)


@launch_app.command()
@with_options(*LAUNCH_OPTIONS)
def flink(
    inputs: Optional[List[str]] = Inputs,
    job_endpoint: Optional[str] = typer.Option(None, "--job-endpoint", help="Beam job server, HOST:8099."),
    flink_master: Optional[str] = typer.Option(None, "--flink-master", help="Flink REST endpoint, HOST:8081."),
    output_prefix: str = typer.Option(..., "--output-prefix",
                                      help="Where workers write thumbnails, dead letters, runs (gs://, s3://, file:// on shared storage)."),
    parallelism: Optional[int] = typer.Option(None, "--parallelism", min=1),
    environment: str = typer.Option("external", "--environment",
                                    help="external: the worker pool beside each task manager; docker: Flink starts the image."),
    worker_pool: str = typer.Option("localhost:50000", "--worker-pool"),
    image: Optional[str] = typer.Option(None, "--image", help="Worker image (environment docker)."),
    gpu: bool = typer.Option(False, "--gpu/--no-gpu", help="Task managers have a GPU."),
    detach: bool = Detach,
    dry_run: bool = DryRun,
    beam_args: Optional[List[str]] = BeamArgs,
    **settings: Any,
) -> None:
    """Launch on a Flink cluster, through a Beam job server or Flink's REST endpoint."""
    from sceneline.pipelines.launch import FlinkTarget, flink_plan  # Beam: see _job

    configure_logging(False)
    inputs, beam_flags = split_beam_flags(inputs, beam_args)
    target = FlinkTarget(job_endpoint=job_endpoint, flink_master=flink_master, parallelism=parallelism,
                         environment=environment, worker_pool=worker_pool, image=image, gpu=gpu)
    job = _job(inputs, beam_flags, output_prefix, detach=detach, **settings)
    _launch(run_guarded(flink_plan, job, target), dry_run)


def init_index(
    qdrant_url: Optional[str] = option(StoreSettings, "qdrant_url"),
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    qdrant_api_key: Optional[str] = option(StoreSettings, "qdrant_api_key"),
    collection: str = option(StoreSettings, "collection"),
    visual_model: str = option(ModelSettings, "visual_model"),
    text_model: str = option(UnderstandingSettings, "text_model"),
    offline: bool = option(ModelSettings, "offline"),
) -> None:
    """Create the collections (vectors sized for the models, payload indexes) before workers start.

    Safe to run again: an existing index is checked against the model instead.
    """
    configure_logging(False)
    from sceneline.transforms.store.scene_store import require_reachable, store_config

    config = run_guarded(store_config, qdrant_path, qdrant_url, qdrant_api_key, collection)
    run_guarded(require_reachable, config)  # before the models load: a closed port is quicker to fix
    # The models' code (torch, open_clip) loads only when this command runs.
    from sceneline.pipelines.batch_index import prepare_store
    from sceneline.transforms.models.model_spec import preflight
    from sceneline.transforms.models.text_model import preflight_text_model

    def prepare() -> dict:
        store = prepare_store(config, preflight(visual_model, offline=offline), preflight_text_model(text_model))
        return {"store": config.describe(), "collection": collection, "assets_collection": store.names.assets,
                **store.index_info()}

    out.print_json(json.dumps(run_guarded(prepare)))


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
    app.command("init-index")(init_index)
