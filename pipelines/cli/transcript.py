"""`sceneline transcript ASSET_ID`: what was said in an asset, with times (text, JSON, SRT, WebVTT)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from sceneline.pipelines.cli.common import UserError, configure_logging, fail, option, out, run_guarded
from sceneline.pipelines.cli.query import open_store
from sceneline.schemas.settings import StoreSettings


def transcript(
    asset_id: str = typer.Argument(..., help="The asset's id (see `sceneline status`)."),
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    qdrant_url: Optional[str] = option(StoreSettings, "qdrant_url"),
    qdrant_api_key: Optional[str] = option(StoreSettings, "qdrant_api_key"),
    collection: str = option(StoreSettings, "collection"),
    json_out: bool = typer.Option(False, "--json", help="One JSON document: segments with start_s, end_s, text, words."),
    srt: bool = typer.Option(False, "--srt", help="SubRip subtitles."),
    vtt: bool = typer.Option(False, "--vtt", help="WebVTT subtitles."),
) -> None:
    """Print an asset's transcript with the time of each segment."""
    # The store engines load when the command runs, not at CLI start.
    from sceneline.pipelines.transcript import TranscriptNotFoundError, to_srt, to_vtt, transcript_json, transcript_of

    configure_logging(False)
    if json_out + srt + vtt > 1:
        fail(UserError("choose one of --json, --srt and --vtt"))
    store_settings = StoreSettings.pick(locals())

    def load():
        try:
            return transcript_of(open_store(store_settings), asset_id)
        except TranscriptNotFoundError as exc:
            raise UserError(str(exc)) from exc

    segments = run_guarded(load)
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
