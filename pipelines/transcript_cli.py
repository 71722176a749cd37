"""`sceneline transcript ASSET_ID`: what was said in an asset, with times (text, JSON, SRT, WebVTT)."""

from __future__ import annotations

import json
from typing import Optional

import typer


def transcript(
    asset_id: str = typer.Argument(..., help="The asset's id (see `sceneline status`)."),
    qdrant_path: Optional[str] = typer.Option(None, "--qdrant-path", envvar="SCENELINE_QDRANT_PATH",
                                              help="Local Qdrant folder (default .sceneline/qdrant) or ':memory:'."),
    qdrant_url: Optional[str] = typer.Option(None, "--qdrant-url", envvar="SCENELINE_QDRANT_URL",
                                             help="Qdrant server URL."),
    qdrant_api_key: Optional[str] = typer.Option(None, "--qdrant-api-key", envvar="SCENELINE_QDRANT_API_KEY"),
    collection: str = typer.Option("scenes", "--collection", envvar="SCENELINE_COLLECTION", help="Collection name."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document: segments with start_s, end_s, text, words."),
    srt: bool = typer.Option(False, "--srt", help="SubRip subtitles."),
    vtt: bool = typer.Option(False, "--vtt", help="WebVTT subtitles."),
) -> None:
    """Print an asset's transcript with the time of each segment."""
    from sceneline.pipelines.cli import UserError, _configure_logging, _fail, _open_store, _run_guarded, out
    from sceneline.pipelines.transcript import (
        TranscriptNotFoundError,
        to_srt,
        to_vtt,
        transcript_json,
        transcript_of,
    )

    _configure_logging(False)
    if json_out + srt + vtt > 1:
        _fail(UserError("choose one of --json, --srt and --vtt"))

    def load():
        try:
            return transcript_of(_open_store(qdrant_path, qdrant_url, qdrant_api_key, collection), asset_id)
        except TranscriptNotFoundError as exc:
            raise UserError(str(exc)) from exc

    segments = _run_guarded(load)
    if json_out:
        out.print_json(json.dumps(transcript_json(asset_id, segments)))
    elif srt or vtt:
        # Plain print: subtitles are data, not markup for the console to style or wrap.
        typer.echo(to_srt(segments) if srt else to_vtt(segments), nl=False)
    else:
        for s in segments:
            out.print(f"[{s.start_s:8.2f} - {s.end_s:8.2f}] {s.text}", highlight=False, markup=False, soft_wrap=True)
        if not segments:
            typer.echo("(no speech)", err=True)


def register(app: typer.Typer) -> None:
    app.command("transcript")(transcript)
