"""`sceneline launch dataflow|flink` and `sceneline init-index`: running at scale.

The launch commands turn a few settings into a launch plan (pipelines/launch.py), print it
as data with --dry-run, or hand it to the pipeline's run(). init-index creates the collections
on a Qdrant server before any worker starts, so workers never race to create them.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from typing import List, Optional

import typer

launch_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Run the index pipelines on Dataflow or Flink (see README, Running at scale).")

Inputs = typer.Argument(None, help="Files or prefixes to index (gs://...) for a batch job; none with --subscription.")
Subscription = typer.Option(None, "--subscription",
                            help="projects/P/subscriptions/S of bucket notifications: a streaming job.")
QdrantUrl = typer.Option(None, "--qdrant-url", envvar="SCENELINE_QDRANT_URL", help="The Qdrant server workers write to.")
QdrantApiKey = typer.Option(None, "--qdrant-api-key", envvar="SCENELINE_QDRANT_API_KEY")
Collection = typer.Option("scenes", "--collection", envvar="SCENELINE_COLLECTION")
VisualModel = typer.Option(None, "--visual-model", envvar="SCENELINE_VISUAL_MODEL",
                           help="Visual model spec; a gs:// checkpoint is copied once per worker.")
Detach = typer.Option(False, "--detach", help="Batch: return once the job is submitted.")
DryRun = typer.Option(False, "--dry-run", "--print-options",
                      help="Print the pipeline options as JSON and submit nothing.")

# Options every launch target shares: (type, typer option). They reach the command as one dict,
# `job` (Job's fields), and `dry_run`.
JOB_OPTIONS = {
    "subscription": (Optional[str], Subscription),
    "qdrant_url": (Optional[str], QdrantUrl),
    "qdrant_api_key": (Optional[str], QdrantApiKey),
    "collection": (str, Collection),
    "visual_model": (Optional[str], VisualModel),
    "detach": (bool, Detach),
}


def with_job_options(command):
    """Give a launch command the shared options: typer reads them from the signature made here,
    and the command gets them gathered in `job`."""
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.name not in ("job", "dry_run")]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
              for name, (kind, option) in {**JOB_OPTIONS, "dry_run": (bool, DryRun)}.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        job = {name: kwargs.pop(name) for name in JOB_OPTIONS}
        return command(job=job, **kwargs)

    hints = typing.get_type_hints(command)
    wrapper.__signature__ = signature.replace(
        parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in own] + shared)
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper


def _launch(plan_fn, job_kwargs: dict, target, dry_run: bool, extra: list[str]) -> None:
    from sceneline.pipelines.cli import _configure_logging, _fail, _run_guarded, err, out
    from sceneline.pipelines.launch import Job, LaunchError

    _configure_logging(False)
    inputs = [p for p in job_kwargs.pop("inputs") or [] if not p.startswith("--")]
    beam_flags = [p for p in extra if p.startswith("--")]
    try:
        plan = plan_fn(Job(inputs=tuple(inputs), extra=tuple(beam_flags), **job_kwargs), target)
    except LaunchError as exc:
        _fail(exc)
    if dry_run:
        out.print_json(json.dumps(plan.as_data()))
        return
    for note in plan.notes:
        err.print(note, highlight=False)
    result = _run_guarded(plan.run)
    if hasattr(result, "run_id") and result.outcomes:
        err.print(f"run {result.run_id}: {len(result.outcomes)} assets, {result.scene_count} scenes")
    else:
        err.print("submitted; follow it in the runner's console (README, Running at scale)")


def _split_extra(inputs: Optional[List[str]], ctx: typer.Context) -> list[str]:
    # Typer hands unknown `--name=value` options to the argument list: they are Beam's.
    return [p for p in (inputs or []) if p.startswith("--")] + list(ctx.args)


@launch_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@with_job_options
def dataflow(
    ctx: typer.Context,
    inputs: Optional[List[str]] = Inputs,
    project: str = typer.Option(..., "--project", envvar="GOOGLE_CLOUD_PROJECT"),
    region: str = typer.Option(..., "--region"),
    bucket: str = typer.Option(..., "--bucket", help="gs://BUCKET[/PREFIX] for temp, staging and sceneline's output."),
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
    job: Optional[dict] = None,
    dry_run: bool = False,
) -> None:
    """Launch on Dataflow with GPU workers (other --name=value flags go to Beam)."""
    from sceneline.pipelines.launch import DataflowTarget, dataflow_plan

    target = DataflowTarget(
        project=project, region=region, bucket=bucket, image=image,
        gpu_type=None if gpu.lower() == "none" else gpu, gpu_count=gpu_count, gpu_sharing=gpu_sharing,
        machine_type=machine_type, max_workers=max_workers, job_name=job_name,
        service_account=service_account, subnetwork=subnetwork)
    job.update(inputs=inputs, output_prefix=f"{bucket.rstrip('/')}/sceneline")
    _launch(dataflow_plan, job, target, dry_run, _split_extra(inputs, ctx))


@launch_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@with_job_options
def flink(
    ctx: typer.Context,
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
    job: Optional[dict] = None,
    dry_run: bool = False,
) -> None:
    """Launch on a Flink cluster, through a Beam job server or Flink's REST endpoint."""
    from sceneline.pipelines.launch import FlinkTarget, flink_plan

    target = FlinkTarget(job_endpoint=job_endpoint, flink_master=flink_master, parallelism=parallelism,
                         environment=environment, worker_pool=worker_pool, image=image, gpu=gpu)
    job.update(inputs=inputs, output_prefix=output_prefix)
    _launch(flink_plan, job, target, dry_run, _split_extra(inputs, ctx))


def init_index(
    qdrant_url: Optional[str] = QdrantUrl,
    qdrant_path: Optional[str] = typer.Option(None, "--qdrant-path", envvar="SCENELINE_QDRANT_PATH"),
    qdrant_api_key: Optional[str] = QdrantApiKey,
    collection: str = Collection,
    visual_model: str = typer.Option("ViT-B-32:laion2b_s34b_b79k", "--visual-model", envvar="SCENELINE_VISUAL_MODEL"),
    text_model: str = typer.Option("sentence-transformers/all-MiniLM-L6-v2", "--text-model",
                                   envvar="SCENELINE_TEXT_MODEL", help="The text vector's model, or 'none'."),
    offline: bool = typer.Option(False, "--offline", envvar="SCENELINE_OFFLINE"),
) -> None:
    """Create the collections (vectors sized for the models, payload indexes) before workers start.

    Safe to run again: an existing index is checked against the model instead.
    """
    from sceneline.pipelines.cli import _configure_logging, _run_guarded, out

    _configure_logging(False)

    def prepare() -> dict:
        from sceneline.pipelines.batch_index import prepare_store
        from sceneline.transforms.models.model_spec import preflight
        from sceneline.transforms.store.scene_store import store_config
        from sceneline.transforms.models.text_model import preflight_text_model

        config = store_config(qdrant_path, qdrant_url, qdrant_api_key, collection)
        store = prepare_store(config, preflight(visual_model, offline=offline), preflight_text_model(text_model))
        return {"store": config.describe(), "collection": collection, "assets_collection": store.names.assets,
                **store.index_info()}

    out.print_json(json.dumps(_run_guarded(prepare)))


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
    app.command("init-index")(init_index)
