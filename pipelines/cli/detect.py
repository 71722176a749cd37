"""`sceneline detect`: the shots and transitions of one video."""

from __future__ import annotations

import av
import typer
from rich.table import Table

from sceneline.pipelines.cli.common import JsonOut, UserError, Verbose, configure_logging, err, option, out, run_guarded
from sceneline.schemas import MediaError
from sceneline.schemas.settings import AnalysisSettings


def detect(
    video: str = typer.Argument(..., help="A video file (or gs:// URI)."),
    detector: str = option(AnalysisSettings, "detector"),
    exact: bool = typer.Option(False, "--exact", help="Decode every frame exactly (with the deblocking filter), "
                                                      "as the pipeline does; slower."),
    json_out: bool = JsonOut,
    verbose: bool = Verbose,
) -> None:
    """Find the shots and transitions (cuts, dissolves, fades) of one video."""
    configure_logging(verbose)
    # The detectors (TransNetV2 brings torch) load when this command runs, not at CLI start.
    from sceneline.transforms.media.shots import detect_shots

    def run():
        _require_video(video)
        try:
            return detect_shots(video, detector, fast=not exact)
        except FileNotFoundError as exc:
            raise UserError(f"no such file: {video}") from exc
        except MediaError as exc:
            raise UserError(f"{video}: {exc}") from exc
        except av.error.FFmpegError as exc:
            raise UserError(f"{video} cannot be read as a video: {exc}") from exc

    found = run_guarded(run)
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


def _require_video(uri: str) -> None:
    """A still image decodes as a one-frame video ("1 shots"): say what it is instead."""
    from pathlib import Path

    from sceneline.schemas import MediaType
    from sceneline.transforms.media.sniff import SNIFF_BYTES, sniff_bytes

    path = Path(uri).expanduser()
    if "://" in uri or not path.is_file():
        return  # a bucket object, or a missing file: detect_shots says so
    with open(path, "rb") as f:
        sniffed = sniff_bytes(f.read(SNIFF_BYTES))
    if sniffed.media_type is MediaType.IMAGE:
        raise UserError(f"{uri} is an image ({sniffed.format}), not a video: an image has no shots "
                        "(`sceneline index` takes images as they are)")


def register(app: typer.Typer) -> None:
    app.command()(detect)
