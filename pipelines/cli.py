"""The `sceneline` command: index media, search it, and see what is indexed."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from sceneline.transforms.media.detection import DEFAULT_DETECTOR


app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="sceneline: index videos and images into searchable scenes, and search them.")
out = Console()
err = Console(stderr=True)

QdrantPath = typer.Option(None, "--qdrant-path", envvar="SCENELINE_QDRANT_PATH",
                          help="Local Qdrant folder (default .sceneline/qdrant) or ':memory:'.")
QdrantUrl = typer.Option(None, "--qdrant-url", envvar="SCENELINE_QDRANT_URL", help="Qdrant server URL.")
QdrantApiKey = typer.Option(None, "--qdrant-api-key", envvar="SCENELINE_QDRANT_API_KEY")
Collection = typer.Option("scenes", "--collection", envvar="SCENELINE_COLLECTION", help="Collection name.")
JsonOut = typer.Option(False, "--json", help="Print one machine-readable JSON document.")
Offline = typer.Option(False, "--offline", envvar="SCENELINE_OFFLINE",
                       help="Never reach for a model hub (missing weights fail at once).")


# Limits on one asset (schemas/limits.py); None leaves the option's default.
MaxBytes = typer.Option(None, "--max-bytes", help="Largest file in bytes (default 64 GiB).")
MaxDuration = typer.Option(None, "--max-duration-s", help="Longest video in seconds (default 7200).")
MaxPixels = typer.Option(None, "--max-pixels", help="Most pixels in a frame or image (default 100,000,000).")
MaxFrames = typer.Option(None, "--max-frames", help="Most frames decoded from one video (default 1,000,000).")
TimeBudget = typer.Option(None, "--asset-time-budget-s", help="Longest analysis of one asset in seconds (default 3600).")


def _limits_argv(**limits: float | None) -> list[str]:
    return [f"--{name}={value}" for name, value in limits.items() if value is not None]


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from sceneline.pipelines.search import SearchError
    from sceneline.transforms.models.model_spec import ModelUnavailableError
    from sceneline.transforms.store.gateway import GatewayError
    from sceneline.transforms.io.sources import InputNotFoundError
    from sceneline.transforms.store.scene_store import IndexMismatchError, StoreConfigError

    return (UserError, InputNotFoundError, ModelUnavailableError, StoreConfigError, IndexMismatchError,
            SearchError, GatewayError, ValueError)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # Beam is chatty at INFO and WARNING about things users cannot change
        for name in ("apache_beam", "absl"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _store_argv(qdrant_path: str | None, qdrant_url: str | None, api_key: str | None, collection: str) -> list[str]:
    argv = [f"--collection={collection}"]
    if qdrant_path:
        argv.append(f"--qdrant_path={qdrant_path}")
    if qdrant_url:
        argv.append(f"--qdrant_url={qdrant_url}")
    if api_key:
        argv.append(f"--qdrant_api_key={api_key}")
    return argv


def _understanding_argv(captioner: str, ocr: bool, text_model: str, category: str, captioner_url: str | None,
                        concurrency: int, timeout: float) -> list[str]:
    argv = [f"--captioner={captioner}", f"--text_model={text_model}", f"--category={category}",
            f"--captioner_concurrency={concurrency}", f"--captioner_timeout={timeout}"]
    if captioner_url:
        argv.append(f"--captioner_url={captioner_url}")
    return argv + ([] if ocr else ["--no_ocr"])


def _open_store(qdrant_path: str | None, qdrant_url: str | None, api_key: str | None, collection: str):
    from sceneline.transforms.store.scene_store import SceneStore, store_config

    return SceneStore(store_config(qdrant_path, qdrant_url, api_key, collection))


def _fail(exc: BaseException) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=2)


def _run_guarded(fn, *args, **kwargs) -> Any:
    from sceneline.transforms.store.scene_store import close_shared_clients

    try:
        return fn(*args, **kwargs)
    except _user_errors() as exc:
        _fail(exc)
    finally:
        close_shared_clients()


def _outcome_dict(record) -> dict[str, Any]:
    return {
        "asset_id": record.asset_id, "uri": record.uri,
        "media_type": record.media_type.value if record.media_type else None,
        "status": record.status.value, "scene_count": record.scene_count, "duration_s": record.duration_s,
        "stage": record.stage, "error": record.error_message if record.status.value != "indexed" else None,
        "warnings": record.error_message if record.status.value == "indexed" else None,
    }


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def index(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Files, folders, globs or gs:// prefixes."),
    qdrant_path: Optional[str] = QdrantPath,
    qdrant_url: Optional[str] = QdrantUrl,
    qdrant_api_key: Optional[str] = QdrantApiKey,
    collection: str = Collection,
    visual_model: str = typer.Option("ViT-B-32:laion2b_s34b_b79k", "--visual-model",
                                     envvar="SCENELINE_VISUAL_MODEL",
                                     help="ARCH:PRETRAINED (tag, checkpoint path, gs:// URI or 'random'), "
                                          "local-dir:DIR, hf-hub:ORG/REPO, or 'none'."),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector",
                                 help="Shot detector: content, gradual, hybrid, transnetv2."),
    captioner: str = typer.Option("HuggingFaceTB/SmolVLM-256M-Instruct", "--captioner", envvar="SCENELINE_CAPTIONER",
                                  help="Descriptions and tags: a VLM hub id, local-dir:DIR or path, "
                                       "openai:MODEL (an OpenAI-compatible endpoint), or 'none'."),
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="Read visible text in keyframes and images."),
    text_model: str = typer.Option("sentence-transformers/all-MiniLM-L6-v2", "--text-model",
                                   envvar="SCENELINE_TEXT_MODEL",
                                   help="Sentence model for the `text` vector (name, hub id, path), or 'none'."),
    category: str = typer.Option("general", "--category",
                                 help="Content category preset for the captioner (general, product, "
                                      "real_estate, document, screenshot, construction, food, fashion, vehicle)."),
    captioner_url: Optional[str] = typer.Option(None, "--captioner-url", envvar="SCENELINE_CAPTIONER_URL",
                                                help="Base URL of an OpenAI-compatible endpoint (openai:MODEL)."),
    captioner_concurrency: int = typer.Option(4, "--captioner-concurrency", min=1,
                                              help="Endpoint requests in flight per worker process."),
    captioner_timeout: float = typer.Option(120.0, "--captioner-timeout", help="Seconds to wait for one answer."),
    thumbnails: str = typer.Option(".sceneline/thumbnails", "--thumbnails", help="Thumbnail folder or gs:// prefix."),
    dead_letter: str = typer.Option(".sceneline/dead_letters", "--dead-letter", help="Dead-letter folder or prefix."),
    runner: str = typer.Option("FnApiRunner", "--runner", help="Beam runner (FnApiRunner, DaskRunner, DataflowRunner, ...)."),
    dask_workers: int = typer.Option(0, "--dask-workers", min=0,
                                     help="DaskRunner: worker processes of the local cluster it starts "
                                          "(0: one per core; unused with --dask_client_address=ADDR)."),
    offline: bool = Offline,
    json_out: bool = JsonOut,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    resume: bool = typer.Option(False, "--resume", help="Skip assets already indexed (same content and models): "
                                                        "re-run only what a killed or failed run left."),
    max_bytes: Optional[int] = MaxBytes,
    max_duration_s: Optional[float] = MaxDuration,
    max_pixels: Optional[int] = MaxPixels,
    max_frames: Optional[int] = MaxFrames,
    asset_time_budget_s: Optional[float] = TimeBudget,
) -> None:
    """Index media into scenes (other --name=value flags go to Beam, e.g. --direct_num_workers=2)."""
    _configure_logging(verbose)
    from sceneline.pipelines import batch_index

    # Typer gives unknown `--name=value` options to the PATH list: they are Beam's.
    beam_flags = [p for p in paths if p.startswith("--")]
    paths = [p for p in paths if not p.startswith("--")]
    if not paths:
        _fail(UserError("nothing to index: give at least one file, folder, glob or gs:// prefix"))
    argv = [f"--input={p}" for p in paths] + _store_argv(qdrant_path, qdrant_url, qdrant_api_key, collection) + [
        f"--visual_model={visual_model}", f"--detector={detector}", f"--thumbnails={thumbnails}",
        f"--dead_letter={dead_letter}", f"--runner={runner}",
    ] + _understanding_argv(captioner, ocr, text_model, category, captioner_url, captioner_concurrency,
                            captioner_timeout) + (["--offline"] if offline else []) \
        + ([f"--dask_workers={dask_workers}"] if dask_workers else []) + (["--resume"] if resume else []) \
        + _limits_argv(max_bytes=max_bytes, max_duration_s=max_duration_s, max_pixels=max_pixels,
                       max_frames=max_frames, asset_time_budget_s=asset_time_budget_s) + beam_flags + list(ctx.args)

    show_progress = not json_out and sys.stderr.isatty()
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            task = progress.add_task("index", total=None)
            result = _run_guarded(batch_index.run, argv,
                                  on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    else:
        result = _run_guarded(batch_index.run, argv)

    from sceneline.schemas import AssetStatus

    counts = {s.value: result.count(s) for s in (AssetStatus.INDEXED, AssetStatus.FAILED, AssetStatus.SKIPPED)}
    if json_out:
        out.print_json(json.dumps({
            "run_id": result.run_id, "elapsed_s": round(result.elapsed_s, 3), "counts": counts,
            "scenes": result.scene_count, "hidden_skipped": result.listing.hidden_skipped,
            "stage_seconds": {k: round(v, 3) for k, v in result.stage_seconds.items()},
            "counters": result.counters,
            "assets": [_outcome_dict(o) for o in result.outcomes],
        }))
        return
    out.print(f"run {result.run_id}: {counts['indexed']} indexed ({result.scene_count} scenes), "
              f"{counts['failed']} failed, {counts['skipped']} skipped in {result.elapsed_s:.1f} s")
    problems = [o for o in result.outcomes if o.status in (AssetStatus.FAILED, AssetStatus.SKIPPED)]
    if problems:
        table = Table("status", "file", "reason", show_lines=False)
        for o in problems:
            reason = f"[{o.stage}] {o.error_message}" if o.stage else o.error_message
            table.add_row(o.status.value, escape(o.filename), escape(reason or ""))
        out.print(table)


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="Text to search for."),
    image: Optional[str] = typer.Option(None, "--image", help="Search with an image (file or gs:// URI)."),
    qdrant_path: Optional[str] = QdrantPath,
    qdrant_url: Optional[str] = QdrantUrl,
    qdrant_api_key: Optional[str] = QdrantApiKey,
    collection: str = Collection,
    limit: int = typer.Option(10, "--limit", min=1, max=1000, help="Hits (or videos, grouped) per page."),
    page: int = typer.Option(1, "--page", min=1, help="Page of results (1 is the best)."),
    modality: str = typer.Option("visual,text", "--modality",
                                 help="Vectors to search: visual, text, or both (fused by reciprocal rank)."),
    filter_json: Optional[str] = typer.Option(None, "--filter",
                                              help='TwelveLabs-style filter, e.g. \'{"duration": {"gte": 60}}\'.'),
    group_by: str = typer.Option("clip", "--group-by", help="clip (a flat list) or video (best clips per video)."),
    group_size: int = typer.Option(3, "--group-size", min=1, max=100, help="Clips per video with --group-by video."),
    threshold: Optional[str] = typer.Option(None, "--threshold",
                                            help="Least cosine similarity: one number, or visual=0.2,text=0.4."),
    visual_model: Optional[str] = typer.Option(None, "--visual-model",
                                               help="Override the model the index records (rarely needed)."),
    offline: bool = Offline,
    json_out: bool = JsonOut,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Find scenes by text, by image, or both, best first."""
    _configure_logging(verbose)
    from sceneline.pipelines.filters import parse_filter_text
    from sceneline.pipelines.search import parse_threshold
    from sceneline.pipelines.search import search as run_search
    from sceneline.schemas import SearchRequest

    def do_search():
        request = SearchRequest(text=query, image_path=image, limit=limit, page=page, modalities=modality,
                                filter=parse_filter_text(filter_json), group_by=group_by, group_size=group_size,
                                threshold=parse_threshold(threshold))
        store = _open_store(qdrant_path, qdrant_url, qdrant_api_key, collection)
        return run_search(store, request, visual_model=visual_model, offline=offline)

    result = _run_guarded(do_search)
    if json_out:
        if result.groups is not None:
            out.print_json(json.dumps([g.model_dump(exclude={"clips": {"__all__": {"payload"}}})
                                       for g in result.groups]))
        else:
            out.print_json(json.dumps([h.model_dump(exclude={"payload"}) for h in result.hits]))
        return
    table = Table("#", "rrf score" if result.fused else "score", "file", "scene", "start-end (s)",
                  "description / tags / text", "thumbnail")
    first = (page - 1) * limit + 1
    ranked = ([(f"{first + i}.{j + 1}", h) for i, g in enumerate(result.groups) for j, h in enumerate(g.clips)]
              if result.groups is not None else [(str(first + i), h) for i, h in enumerate(result.hits)])
    for rank, h in ranked:
        said = " | ".join(x for x in (h.description, ", ".join(h.tags), (h.visible_text or "").replace("\n", " ")) if x)
        table.add_row(rank, f"{h.score:.4f}", h.filename, str(h.scene_index), f"{h.start_s:.2f}-{h.end_s:.2f}",
                      said[:120], h.thumbnail_uri or "")
    out.print(table)
    more = f"; more on --page {page + 1}" if result.has_more else ""
    err.print(f"searched {' + '.join(result.modalities)}{' (fused)' if result.fused else ''}, page {page}{more}",
              highlight=False)


@app.command()
def status(
    asset_id: Optional[str] = typer.Argument(None, help="One asset's id (default: all assets)."),
    qdrant_path: Optional[str] = QdrantPath,
    qdrant_url: Optional[str] = QdrantUrl,
    qdrant_api_key: Optional[str] = QdrantApiKey,
    collection: str = Collection,
    only: Optional[str] = typer.Option(None, "--status", help="Only assets with this status."),
    json_out: bool = JsonOut,
) -> None:
    """List assets with their status (pending, processing, indexed, failed, deleted)."""
    _configure_logging(False)
    from sceneline.schemas import AssetStatus

    def load():
        store = _open_store(qdrant_path, qdrant_url, qdrant_api_key, collection)
        if asset_id:
            record = store.get_status(asset_id)
            if record is None:
                raise UserError(f"no asset {asset_id} in {store.config.describe()}")
            return [record]
        return store.list_status(status=AssetStatus(only) if only else None)

    records = _run_guarded(load)
    if json_out:
        out.print_json(json.dumps([r.to_payload() for r in records]))
        return
    # Ids are shown whole (users paste them into `sceneline status ID`); long errors wrap.
    table = Table(Column("asset id", no_wrap=True, min_width=36), "status", "type", "scenes", "file", "error")
    for r in records:
        table.add_row(r.asset_id or "", r.status.value, r.media_type.value if r.media_type else "",
                      "" if r.scene_count is None else str(r.scene_count), r.filename,
                      r.error_message if r.status.value in ("failed", "deleted") else "")
    out.print(table)


@app.command()
def detect(
    video: str = typer.Argument(..., help="A video file (or gs:// URI)."),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector",
                                 help="Shot detector: content, gradual, hybrid, transnetv2."),
    exact: bool = typer.Option(False, "--exact", help="Decode every frame exactly (with the deblocking filter), "
                                                      "as the pipeline does; slower."),
    json_out: bool = JsonOut,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Find the shots and transitions (cuts, dissolves, fades) of one video."""
    _configure_logging(verbose)
    import av

    from sceneline.schemas import MediaError
    from sceneline.transforms.media.shots import detect_shots

    def run():
        try:
            return detect_shots(video, detector, fast=not exact)
        except FileNotFoundError as exc:
            raise UserError(f"no such file: {video}") from exc
        except MediaError as exc:
            raise UserError(f"{video}: {exc}") from exc
        except av.error.FFmpegError as exc:
            raise UserError(f"{video} cannot be read as a video: {exc}") from exc

    found = _run_guarded(run)
    if json_out:
        out.print_json(found.model_dump_json())
        return
    out.print(found.uri, highlight=False)
    shots = Table("shot", "frames", "seconds", "starts with", title=f"{len(found.shots)} shots")
    for s in found.shots:
        shots.add_row(str(s.index), f"{s.start_frame}-{s.end_frame}", f"{s.start_s:.3f}-{s.end_s:.3f}",
                      s.transition_in.value)
    out.print(shots)
    if found.transitions:
        transitions = Table("kind", "frame", "time (s)", "span (frames)", "span (s)", "score",
                            title=f"{len(found.transitions)} transitions")
        for t in found.transitions:
            transitions.add_row(t.kind.value, str(t.frame), f"{t.time_s:.3f}", f"{t.start_frame}-{t.end_frame}",
                                f"{t.start_s:.3f}-{t.end_s:.3f}", f"{t.score:.3g}")
        out.print(transitions)
    for warning in found.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    out.print(f"{found.frames} frames ({found.duration_s:.2f} s) in {found.elapsed_s:.2f} s: "
              f"{found.frames_per_s:.0f} frames/s with the {found.detector} detector")


def _add_scale_commands() -> None:
    from sceneline.pipelines.launch_cli import register

    register(app)  # `launch dataflow|flink` and `init-index`


def _add_serve_command() -> None:
    from sceneline.pipelines.serve_cli import register

    register(app)  # `serve`: the TwelveLabs v1.3 API (pipelines/server/)


_add_scale_commands()
_add_serve_command()


# ---- streaming: index on bucket events (pipelines/stream_index.py) -------------------------

@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def stream(
    ctx: typer.Context,
    subscription: str = typer.Option(..., "--subscription", envvar="SCENELINE_SUBSCRIPTION",
                                     help="The bucket notifications' subscription, projects/P/subscriptions/S."),
    qdrant_path: Optional[str] = QdrantPath,
    qdrant_url: Optional[str] = QdrantUrl,
    qdrant_api_key: Optional[str] = QdrantApiKey,
    collection: str = Collection,
    visual_model: str = typer.Option("ViT-B-32:laion2b_s34b_b79k", "--visual-model", envvar="SCENELINE_VISUAL_MODEL",
                                     help="As for `index`."),
    detector: str = typer.Option("content", "--detector", help="Shot detector."),
    captioner: str = typer.Option("HuggingFaceTB/SmolVLM-256M-Instruct", "--captioner", envvar="SCENELINE_CAPTIONER",
                                  help="As for `index`."),
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="As for `index`."),
    text_model: str = typer.Option("sentence-transformers/all-MiniLM-L6-v2", "--text-model",
                                   envvar="SCENELINE_TEXT_MODEL", help="As for `index`."),
    category: str = typer.Option("general", "--category", help="As for `index`."),
    captioner_url: Optional[str] = typer.Option(None, "--captioner-url", envvar="SCENELINE_CAPTIONER_URL",
                                                help="As for `index`."),
    captioner_concurrency: int = typer.Option(4, "--captioner-concurrency", min=1, help="As for `index`."),
    captioner_timeout: float = typer.Option(120.0, "--captioner-timeout", help="As for `index`."),
    thumbnails: str = typer.Option(".sceneline/thumbnails", "--thumbnails", help="Thumbnail folder or gs:// prefix."),
    dead_letter: str = typer.Option(".sceneline/dead_letters", "--dead-letter",
                                    help="Dead-letter folder, gs:// prefix, or Pub/Sub topic projects/P/topics/T."),
    runner: str = typer.Option("BundleBasedDirectRunner", "--runner",
                               help="BundleBasedDirectRunner (local), DataflowRunner, FlinkRunner."),
    offline: bool = Offline,
    json_out: bool = typer.Option(False, "--json", help="Print each event's outcome as a JSON line."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    max_bytes: Optional[int] = MaxBytes,
    max_duration_s: Optional[float] = MaxDuration,
    max_pixels: Optional[int] = MaxPixels,
    max_frames: Optional[int] = MaxFrames,
    asset_time_budget_s: Optional[float] = TimeBudget,
) -> None:
    """Keep the index in step with a bucket, from its notifications on Pub/Sub.

    Uploads are indexed and deleted objects removed as their events arrive; each message is
    acknowledged once its outcome is recorded. Runs until Ctrl-C (locally); other --name=value
    flags go to Beam (e.g. --lease_extension_s=30)."""
    _configure_logging(verbose)
    from sceneline.pipelines.stream_cli import stream_until_stopped

    argv = [f"--subscription={subscription}"] + _store_argv(qdrant_path, qdrant_url, qdrant_api_key, collection) + [
        f"--visual_model={visual_model}", f"--detector={detector}", f"--thumbnails={thumbnails}",
        f"--dead_letter={dead_letter}", f"--runner={runner}",
    ] + _understanding_argv(captioner, ocr, text_model, category, captioner_url, captioner_concurrency,
                            captioner_timeout) + (["--offline"] if offline else []) \
        + _limits_argv(max_bytes=max_bytes, max_duration_s=max_duration_s, max_pixels=max_pixels,
                       max_frames=max_frames, asset_time_budget_s=asset_time_budget_s) + list(ctx.args)
    _run_guarded(stream_until_stopped, argv, as_json=json_out, label=subscription)


@app.command("setup-bucket")
def setup_bucket(
    bucket: str = typer.Argument(..., help="The bucket, NAME or gs://NAME."),
    project: str = typer.Option(..., "--project", envvar="GOOGLE_CLOUD_PROJECT", help="Project of the Pub/Sub topics."),
    topic: str = typer.Option("sceneline-uploads", "--topic", help="Topic the bucket notifies."),
    subscription: str = typer.Option("sceneline-stream", "--subscription", help="Subscription the stream reads."),
    dead_letter_topic: Optional[str] = typer.Option(
        None, "--dead-letter-topic", help="Where Pub/Sub forwards messages no delivery settles (and a stream "
                                          "can write its dead letters: --dead-letter projects/P/topics/T)."),
    max_delivery_attempts: int = typer.Option(5, "--max-delivery-attempts", min=5, max=100),
    ack_deadline_s: int = typer.Option(60, "--ack-deadline", min=10, max=600, help="Seconds."),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Only objects whose names start with this."),
    notification: bool = typer.Option(True, "--notification/--no-notification",
                                      help="Create the bucket notification (off: Pub/Sub only)."),
) -> None:
    """Create the topic, subscription and bucket notification a stream reads.

    Also a dead-letter topic if named; each resource is left alone if it exists."""
    _configure_logging(False)
    from sceneline.pipelines.bucket_setup import BucketSetup, setup_bucket as make

    name = bucket[len("gs://"):] if bucket.startswith("gs://") else bucket
    steps = _run_guarded(make, BucketSetup(
        project=project, bucket=name.strip("/"), topic=topic, subscription=subscription,
        dead_letter_topic=dead_letter_topic, max_delivery_attempts=max_delivery_attempts,
        ack_deadline_s=ack_deadline_s, prefix=prefix, notification=notification))
    for step in steps:
        out.print(step, highlight=False, soft_wrap=True)
    out.print(f"stream it with: sceneline stream --subscription projects/{project}/subscriptions/{subscription}",
              highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
