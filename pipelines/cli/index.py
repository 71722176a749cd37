"""`sceneline index`: run the batch pipeline over files, folders, globs and prefixes."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections import Counter
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sceneline.pipelines.cli.common import (
    BeamArgs,
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
    with_options,
)
from sceneline.pipelines.cli.local_index import outputs_beside_index
from sceneline.pipelines.cli.option_sets import INDEX_CHAIN_OPTIONS, LIMIT_OPTIONS, OUTPUT_OPTIONS, STORE_OPTIONS
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


@with_options(*STORE_OPTIONS, *INDEX_CHAIN_OPTIONS, *OUTPUT_OPTIONS, *LIMIT_OPTIONS)
def index(
    paths: List[str] = typer.Argument(..., help="Files, folders, globs or gs:// prefixes (then, after `--`, "
                                                 "flags for Beam)."),
    runner: str = option(BatchSettings, "runner"),
    dask_workers: int = option(BatchSettings, "dask_workers"),
    resume: bool = option(BatchSettings, "resume"),
    json_out: bool = JsonOut,
    verbose: bool = Verbose,
    beam_args: Optional[List[str]] = BeamArgs,
    **settings: Any,
) -> None:
    """Index media into scenes (flags for Beam: --beam-arg direct_num_workers=2, or after `--`)."""
    configure_logging(verbose)
    # Beam and the models load only when a pipeline runs, not for `sceneline --help`.
    from sceneline.pipelines import batch_index

    paths, beam_flags = split_beam_flags(paths, beam_args)
    if not paths:
        fail(UserError("nothing to index: give at least one file, folder, glob or gs:// prefix"))
    given = {**settings, "runner": runner, "dask_workers": dask_workers, "resume": resume}
    store = StoreSettings.pick(given)
    given = outputs_beside_index({**given, "run_dir": OutputSettings.default("run_dir")}, store)
    argv = [f"--input={p}" for p in paths] + [f"--runner={runner}"] \
        + settings_argv(given, *INDEX_GROUPS, BatchSettings) + beam_flags

    done = {"finished": 0, "total": 0}
    bar = None if json_out or not sys.stderr.isatty() else Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True)

    def on_progress(finished: int, total: int) -> None:
        done.update(finished=finished, total=total)
        if bar is not None:
            # Models load in the first bundle: until an input finishes, that is the wait.
            bar.update(bar.task_ids[0], completed=finished, total=total,
                       description="indexing" if finished else "loading models, then indexing")

    previous = signal.signal(signal.SIGINT, _stop_quietly)
    try:
        if bar is not None:
            bar.add_task("loading models, then indexing", total=None)
            bar.start()
        try:
            # With a progress callback the pipeline runs in a thread: Ctrl-C reaches this one.
            result = run_guarded(batch_index.run, argv, on_progress=on_progress)
        finally:
            if bar is not None:
                bar.stop()
    except KeyboardInterrupt:
        from sceneline.pipelines.store_service import stop_servers

        stop_servers()
        _stopped(done["finished"], done["total"])
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_run(result, json_out)


def _stop_quietly(signum: int, frame: Any) -> None:
    """Ctrl-C: the store closes under the pipeline's threads, which would die noisily; silence
    them, ignore a second Ctrl-C during the clean-up, and unwind the main thread."""
    logging.disable(logging.CRITICAL)
    threading.excepthook = lambda args: None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def resume_command(argv: list[str]) -> str:
    """The command that finishes an interrupted run: the same one, with --resume."""
    return shlex.join(["sceneline", *argv, *([] if "--resume" in argv else ["--resume"])])


def _stopped(finished: int, total: int) -> None:
    """One line, exit 130 (the shell's code for Ctrl-C). The clean-up is done (store closed,
    advert removed); the pipeline's leftover threads must not hold the exit up, hence _exit."""
    err.print(f"stopped: {finished} of {total or '?'} inputs finished; the rest resume with: "
              f"{resume_command(sys.argv[1:])}", highlight=False, soft_wrap=True, markup=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


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
    failed = [o for o in result.outcomes if o.status is AssetStatus.FAILED]
    if failed:  # each failure is worth a row; skips are counted by reason (--json lists them)
        table = Table("failed", "reason")
        for o in failed:
            reason = f"[{o.stage}] {o.error_message}" if o.stage else o.error_message
            table.add_row(escape(o.filename), escape(reason or ""))
        out.print(table)
    skipped = Counter(skip_reason(o.error_message) for o in result.outcomes if o.status is AssetStatus.SKIPPED)
    for reason, count in skipped.most_common():
        out.print(f"skipped {count}: {reason}", highlight=False)
    if result.listing.hidden_skipped:
        out.print(f"skipped {result.listing.hidden_skipped}: hidden files and folders", highlight=False)
    if skipped or result.listing.hidden_skipped:
        out.print("(--json lists each one)", highlight=False)


def skip_reason(message: str | None) -> str:
    """The kind of a skip, without the per-file detail: `not a media file: text data` counts as
    `not a media file`, `already indexed by run r-1 (3 scenes)...` as `already indexed`."""
    kind = (message or "no reason given").split(":", 1)[0]
    return kind.split(" by run ", 1)[0].strip()


def register(app: typer.Typer) -> None:
    app.command()(index)
