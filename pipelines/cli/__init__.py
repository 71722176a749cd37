"""The `sceneline` command: a module per command group, each with `register(app)`."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Optional

import typer

from sceneline.pipelines.cli import analyze, detect, index, launch, migrate, query, serve, stream, transcript
from sceneline.pipelines.cli.common import err

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="sceneline: index videos and images into searchable scenes, and search them.")


def _print_version(given: bool) -> None:
    if given:
        try:
            typer.echo(f"sceneline {version('sceneline')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("sceneline (not installed)")
        raise typer.Exit()


@app.callback()
def _root(_version: Optional[bool] = typer.Option(None, "--version", callback=_print_version, is_eager=True,
                                                  help="Print the version and exit.")) -> None:
    """sceneline: index videos and images into searchable scenes, and search them."""


for group in (index, query, detect, serve, launch, stream, migrate, transcript, analyze):
    group.register(app)


def _interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C stops the command (typer exits 130); a second one during the clean-up is ignored,
    because a KeyboardInterrupt raised inside that clean-up (joining a decoding thread, closing
    a file) escapes it as a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt_once)  # commands that need more install their own
    # OpenMP's idle threads (torch's, CTranslate2's) spin after each parallel region, taking the
    # cores from the model stages and decoding beside them: passive waits made `sceneline index`
    # 13-15% faster end to end on 2 cores (docs/benchmarks.md). Read when torch loads, so set here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except Exception:  # user errors exit 2 inside the commands: what reaches here is a bug
        traceback.print_exc()
        err.print("This is a bug in sceneline, not something you did. Please report it on the project's issue "
                  "tracker with the command you ran, `sceneline --version` and the traceback above.", highlight=False, soft_wrap=True)
        sys.exit(1)
