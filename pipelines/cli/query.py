"""`sceneline search` and `sceneline status`: read the index."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Optional

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from sceneline.pipelines.cli.common import JsonOut, UserError, Verbose, configure_logging, err, option, out, run_guarded
from sceneline.pipelines.cli.local_index import owner_of, require_index
from sceneline.schemas import AssetStatus, SearchRequest
from sceneline.schemas.settings import ModelSettings, StoreSettings


def open_store(settings: StoreSettings):
    from sceneline.transforms.store.scene_store import SceneStore, store_config  # qdrant-client: see run_guarded

    return SceneStore(store_config(settings.qdrant_path, settings.qdrant_url, settings.qdrant_api_key,
                                   settings.collection))


def search(
    query: Optional[str] = typer.Argument(None, help="Text to search for."),
    image: Optional[str] = typer.Option(None, "--image", help="Search with an image (file or gs:// URI)."),
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    qdrant_url: Optional[str] = option(StoreSettings, "qdrant_url"),
    qdrant_api_key: Optional[str] = option(StoreSettings, "qdrant_api_key"),
    collection: str = option(StoreSettings, "collection"),
    limit: int = typer.Option(10, "--limit", min=1, max=1000, help="Hits (or videos, grouped) per page."),
    page: int = typer.Option(1, "--page", min=1, help="Page of results (1 is the best)."),
    modality: str = typer.Option("visual,text", "--modality",
                                 help="What to search: visual, text, transcription (speech segments), or "
                                      "several (fused by reciprocal rank)."),
    transcription_options: str = typer.Option("lexical,semantic", "--transcription-options",
                                              help="How transcription matches: lexical (the words), semantic "
                                                   "(their meaning), or both fused."),
    filter_json: Optional[str] = typer.Option(None, "--filter",
                                              help='TwelveLabs-style filter, e.g. \'{"duration": {"gte": 60}}\'.'),
    group_by: str = typer.Option("clip", "--group-by", help="clip (a flat list) or video (best clips per video)."),
    group_size: int = typer.Option(3, "--group-size", min=1, max=100, help="Clips per video with --group-by video."),
    threshold: Optional[str] = typer.Option(None, "--threshold",
                                            help="Least cosine similarity: one number, or visual=0.2,text=0.4."),
    # Unlike index's, no default: the model the index recorded is the one to use.
    visual_model: Optional[str] = typer.Option(None, "--visual-model",
                                               help="Override the model the index records (rarely needed)."),
    offline: bool = option(ModelSettings, "offline"),
    json_out: bool = JsonOut,
    verbose: bool = Verbose,
) -> None:
    """Find scenes by text, by image, or both, best first."""
    configure_logging(verbose)
    # The query side reads images through Beam's file systems: Beam loads when a search runs.
    from sceneline.pipelines.filters import parse_filter_text
    from sceneline.pipelines.search import parse_threshold
    from sceneline.pipelines.search import search as run_search
    from sceneline.pipelines.search import search_through_owner

    store_settings = StoreSettings.pick(locals())

    def do_search():
        # Everything the user can get wrong is checked before a model loads.
        try:
            request = SearchRequest(text=query, image_path=image, limit=limit, page=page, modalities=modality,
                                    transcription_options=transcription_options,
                                    filter=parse_filter_text(filter_json), group_by=group_by, group_size=group_size,
                                    threshold=parse_threshold(threshold))
        except ValidationError as exc:
            raise UserError(_first_reason(exc)) from exc
        if image:
            check_query_image(image)
        if visual_model is not None and not visual_model.strip():
            raise UserError("--visual-model is empty: leave it out to use the model the index records")
        require_index(store_settings)
        owner = owner_of(store_settings)
        if owner:  # a running server holds the index and its models: it answers at once
            found = search_through_owner(owner, store_settings.collection, request, visual_model=visual_model,
                                         offline=offline)
            if found is not None:
                return found
        return run_search(open_store(store_settings), request, visual_model=visual_model, offline=offline)

    started = time.monotonic()
    if sys.stderr.isatty() and not json_out:  # model loading takes seconds: say what is happening
        with err.status("loading the index's models and searching"):
            result = run_guarded(do_search)
    else:
        result = run_guarded(do_search)
    if json_out:
        if result.groups is not None:
            out.print_json(json.dumps([g.model_dump(exclude={"clips": {"__all__": {"payload"}}})
                                       for g in result.groups]))
        else:
            out.print_json(json.dumps([h.model_dump(exclude={"payload"}) for h in result.hits]))
        return
    _print_hits(out, result, page, limit, time.monotonic() - started)


def check_query_image(image: str) -> None:
    """A local --image must exist and be an image (its bytes say so, not its name)."""
    from pathlib import Path

    from sceneline.schemas import MediaType
    from sceneline.transforms.media.sniff import SNIFF_BYTES, sniff_bytes

    if "://" in image:
        return  # a bucket object: read when the search runs
    path = Path(image).expanduser()
    if not path.is_file():
        raise UserError(f"--image {image}: no such file")
    with open(path, "rb") as f:
        sniffed = sniff_bytes(f.read(SNIFF_BYTES))
    if sniffed.media_type is MediaType.VIDEO:
        raise UserError(f"--image {image} is a video ({sniffed.format}); --image takes a still image "
                        "(a frame saved as JPEG or PNG)")
    if sniffed.media_type is not MediaType.IMAGE:
        raise UserError(f"--image {image} is not an image ({sniffed.format})")


def _first_reason(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return str(error.get("ctx", {}).get("error") or error["msg"])


def _print_hits(console: Console, result, page: int, limit: int, elapsed_s: float) -> None:
    table = Table("#", "rrf score" if result.fused else "score", "file", "scene", "start-end (s)",
                  "description / tags / text", "thumbnail")
    first = (page - 1) * limit + 1
    ranked = ([(f"{first + i}.{j + 1}", h) for i, g in enumerate(result.groups) for j, h in enumerate(g.clips)]
              if result.groups is not None else [(str(first + i), h) for i, h in enumerate(result.hits)])
    for rank, h in ranked:
        said = " | ".join(x for x in (h.description, ", ".join(h.tags), (h.visible_text or "").replace("\n", " "),
                                      f'"{h.transcript}"' if h.transcript else "") if x)
        table.add_row(rank, f"{h.score:.4f}", h.filename, str(h.scene_index), f"{h.start_s:.2f}-{h.end_s:.2f}",
                      said[:120], h.thumbnail_uri or "")
    console.print(table)
    more = f"; more on --page {page + 1}" if result.has_more else ""
    err.print(f"searched {' + '.join(result.modalities)}{' (fused)' if result.fused else ''}, page {page}{more} "
              f"in {elapsed_s:.1f} s (models loaded)",
              highlight=False)


def status(
    asset_id: Optional[str] = typer.Argument(None, help="One asset's id (default: all assets)."),
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    qdrant_url: Optional[str] = option(StoreSettings, "qdrant_url"),
    qdrant_api_key: Optional[str] = option(StoreSettings, "qdrant_api_key"),
    collection: str = option(StoreSettings, "collection"),
    only: Optional[str] = typer.Option(None, "--status", help="Only assets with this status."),
    json_out: bool = JsonOut,
) -> None:
    """List assets with their status (pending, processing, indexed, failed, deleted)."""
    configure_logging(False)
    store_settings = StoreSettings.pick(locals())

    def load():
        require_index(store_settings)
        store = open_store(store_settings)
        if asset_id:
            record = store.get_status(asset_id)
            if record is None:
                raise UserError(f"no asset {asset_id} in {store.config.describe()}")
            return [record]
        if only and only not in {s.value for s in AssetStatus}:
            raise UserError(f"--status is one of {', '.join(s.value for s in AssetStatus)}, not {only!r}")
        return store.list_status(status=AssetStatus(only) if only else None)

    records = run_guarded(load)
    if json_out:
        out.print_json(json.dumps([r.to_payload() for r in records]))
        return
    # Ids are shown whole (users paste them into `sceneline status ID`); the rest folds onto more
    # lines rather than losing characters on a narrow terminal.
    table = Table(Column("asset id", no_wrap=True, min_width=36), Column("status", min_width=8),
                  Column("scenes", min_width=6), Column("file / error", overflow="fold", ratio=1),
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for r in records:
        problem = r.error_message if r.status.value in ("failed", "deleted") else ""
        table.add_row(r.asset_id or "", r.status.value, "" if r.scene_count is None else str(r.scene_count),
                      escape(r.filename) + (f"\n[dim]{escape(problem)}[/]" if problem else ""))
    out.print(table)
    out.print(totals_line(records), highlight=False)


def totals_line(records) -> str:
    """`509 assets: 400 indexed, 100 failed, 9 skipped; 2114 scenes`."""
    by_status = Counter(r.status.value for r in records)
    scenes = sum(r.scene_count or 0 for r in records if r.status is AssetStatus.INDEXED)
    parts = ", ".join(f"{count} {name}" for name, count in by_status.most_common())
    return f"{len(records)} asset{'' if len(records) == 1 else 's'}{': ' + parts if parts else ''}; {scenes} scenes"


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(status)
