"""`sceneline index`: run the batch pipeline over files, folders, globs and prefixes."""

from __future__ import annotations

import json
import sys
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sceneline.pipelines.cli.common import (
    BEAM_PASSTHROUGH,
    JsonOut,
    UserError,
    Verbose,
    configure_logging,
    err,
    fail,
    option,
    out,
    run_guarded,
    settings_argv,
    split_beam_flags,
)
from sceneline.schemas import AssetStatus
from sceneline.schemas.limits import Limits
from sceneline.schemas.settings import (
    AnalysisSettings,
    BatchSettings,
    ModelSettings,
    OutputSettings,
    StoreSettings,
    UnderstandingSettings,
)

# Every command that runs the index chain (index, stream) takes these groups' options.
INDEX_GROUPS = (StoreSettings, ModelSettings, UnderstandingSettings, AnalysisSettings, OutputSettings, Limits)


def index(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Files, folders, globs or gs:// prefixes."),
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    qdrant_url: Optional[str] = option(StoreSettings, "qdrant_url"),
    qdrant_api_key: Optional[str] = option(StoreSettings, "qdrant_api_key"),
    collection: str = option(StoreSettings, "collection"),
    visual_model: str = option(ModelSettings, "visual_model"),
    detector: str = option(AnalysisSettings, "detector"),
    captioner: str = option(UnderstandingSettings, "captioner"),
    ocr: bool = option(UnderstandingSettings, "ocr"),
    text_model: str = option(UnderstandingSettings, "text_model"),
    category: str = option(UnderstandingSettings, "category"),
    captioner_url: str = option(UnderstandingSettings, "captioner_url"),
    captioner_concurrency: int = option(UnderstandingSettings, "captioner_concurrency"),
    captioner_timeout: float = option(UnderstandingSettings, "captioner_timeout"),
    transcriber: str = option(UnderstandingSettings, "transcriber"),
    language: Optional[str] = option(UnderstandingSettings, "language"),
    thumbnails: str = option(OutputSettings, "thumbnails"),
    dead_letter: str = option(OutputSettings, "dead_letter"),
    runner: str = option(BatchSettings, "runner"),
    dask_workers: int = option(BatchSettings, "dask_workers"),
    offline: bool = option(ModelSettings, "offline"),
    json_out: bool = JsonOut,
    verbose: bool = Verbose,
    resume: bool = option(BatchSettings, "resume"),
    max_bytes: int = option(Limits, "max_bytes"),
    max_duration_s: float = option(Limits, "max_duration_s"),
    max_pixels: int = option(Limits, "max_pixels"),
    max_frames: int = option(Limits, "max_frames"),
    time_budget_s: float = option(Limits, "time_budget_s"),
) -> None:
    """Index media into scenes (other --name=value flags go to Beam, e.g. --direct_num_workers=2)."""
    configure_logging(verbose)
    # Beam and the models load only when a pipeline runs, not for `sceneline --help`.
    from sceneline.pipelines import batch_index

    paths, beam_flags = split_beam_flags(paths, ctx)
    if not paths:
        fail(UserError("nothing to index: give at least one file, folder, glob or gs:// prefix"))
    given = locals()
    argv = [f"--input={p}" for p in paths] + [f"--runner={runner}"] \
        + settings_argv(given, *INDEX_GROUPS, BatchSettings) + beam_flags

    if not json_out and sys.stderr.isatty():
        with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            task = progress.add_task("index", total=None)
            result = run_guarded(batch_index.run, argv,
                                 on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    else:
        result = run_guarded(batch_index.run, argv)
    _print_run(result, json_out)


def _outcome_dict(record) -> dict[str, Any]:
    return {
        "asset_id": record.asset_id, "uri": record.uri,
        "media_type": record.media_type.value if record.media_type else None,
        "status": record.status.value, "scene_count": record.scene_count, "duration_s": record.duration_s,
        "stage": record.stage, "error": record.error_message if record.status.value != "indexed" else None,
        "warnings": record.error_message if record.status.value == "indexed" else None,
    }


def _print_run(result, json_out: bool) -> None:
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


def register(app: typer.Typer) -> None:
    app.command(context_settings=BEAM_PASSTHROUGH)(index)
