"""The `sceneline` command: a module per command group, each with `register(app)`."""

from __future__ import annotations

import typer

from sceneline.pipelines.cli import analyze, detect, index, launch, migrate, query, serve, stream, transcript

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="sceneline: index videos and images into searchable scenes, and search them.")

for group in (index, query, detect, serve, launch, stream, migrate, transcript, analyze):
    group.register(app)


def main() -> None:
    app()
