"""`sceneline serve`: the TwelveLabs v1.3 API over this machine's index (pipelines/server/)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from sceneline.pipelines.server.settings import (
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PORT,
    LOOPBACK_HOSTS,
    default_index_workers,
)
from sceneline.transforms.media.detection import DEFAULT_DETECTOR
from sceneline.transforms.models.caption_spec import DEFAULT_CAPTIONER
from sceneline.transforms.models.model_spec import DEFAULT_VISUAL_MODEL
from sceneline.transforms.models.text_model import DEFAULT_TEXT_MODEL


def check_listen_address(host: str, api_keys: list[str]) -> None:
    """Without an API key the server is open to whoever reaches it: loopback only."""
    if not api_keys and host not in LOOPBACK_HOSTS:
        raise ValueError(f"refusing to listen on {host} without an API key: give --api-key KEY "
                         f"(or listen on 127.0.0.1)")


def register(app: typer.Typer) -> None:
    from sceneline.pipelines import cli

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def serve(
        ctx: typer.Context,
        host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on (others than loopback "
                                                               "need --api-key)."),
        port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port."),
        api_key: List[str] = typer.Option([], "--api-key", envvar="SCENELINE_API_KEYS",
                                          help="A key clients send in x-api-key (repeatable; kept only hashed)."),
        home: Optional[str] = typer.Option(None, "--home", envvar="SCENELINE_HOME",
                                           help="The server's folder: records, uploads (media/), thumbnails "
                                                "(default .sceneline, as for `index`)."),
        qdrant_path: Optional[str] = cli.QdrantPath,
        qdrant_url: Optional[str] = cli.QdrantUrl,
        qdrant_api_key: Optional[str] = cli.QdrantApiKey,
        collection: str = cli.Collection,
        visual_model: str = typer.Option(DEFAULT_VISUAL_MODEL, "--visual-model", envvar="SCENELINE_VISUAL_MODEL",
                                         help="As for `index`."),
        detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", help="As for `index`."),
        captioner: str = typer.Option(DEFAULT_CAPTIONER, "--captioner", envvar="SCENELINE_CAPTIONER",
                                      help="As for `index`."),
        ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="As for `index`."),
        text_model: str = typer.Option(DEFAULT_TEXT_MODEL, "--text-model", envvar="SCENELINE_TEXT_MODEL",
                                       help="As for `index`."),
        category: str = typer.Option("general", "--category", help="As for `index`."),
        captioner_url: Optional[str] = typer.Option(None, "--captioner-url", envvar="SCENELINE_CAPTIONER_URL",
                                                    help="As for `index`."),
        captioner_concurrency: int = typer.Option(4, "--captioner-concurrency", min=1, help="As for `index`."),
        captioner_timeout: float = typer.Option(120.0, "--captioner-timeout", help="As for `index`."),
        index_workers: int = typer.Option(default_index_workers(), "--index-workers", min=1,
                                          help="Indexing runs at once (default: half the cores)."),
        max_upload_bytes: int = typer.Option(DEFAULT_MAX_UPLOAD_BYTES, "--max-upload-bytes", min=1,
                                             help="Largest upload accepted."),
        offline: bool = cli.Offline,
        verbose: bool = typer.Option(False, "--verbose", "-v"),
        max_bytes: Optional[int] = cli.MaxBytes,
        max_duration_s: Optional[float] = cli.MaxDuration,
        max_pixels: Optional[int] = cli.MaxPixels,
        max_frames: Optional[int] = cli.MaxFrames,
        asset_time_budget_s: Optional[float] = cli.TimeBudget,
    ) -> None:
        """Serve the TwelveLabs v1.3 API: upload videos, follow indexing, search (docs/api.md).

        Other --name=value flags go to each indexing run's Beam options."""
        cli._configure_logging(verbose)
        try:
            check_listen_address(host, api_key)
        except ValueError as exc:
            cli._fail(exc)
        if qdrant_path == ":memory:":
            cli._fail(cli.UserError("serve needs an index its indexing processes can reach: "
                                    "a --qdrant-path folder or a --qdrant-url"))
        index_argv = [f"--visual_model={visual_model}", f"--detector={detector}"] \
            + cli._understanding_argv(captioner, ocr, text_model, category, captioner_url, captioner_concurrency,
                                      captioner_timeout) + (["--offline"] if offline else []) \
            + cli._limits_argv(max_bytes=max_bytes, max_duration_s=max_duration_s, max_pixels=max_pixels,
                               max_frames=max_frames, asset_time_budget_s=asset_time_budget_s) + list(ctx.args)
        cli._run_guarded(run_server, host=host, port=port, api_keys=api_key, home=home, qdrant_path=qdrant_path,
                         qdrant_url=qdrant_url, qdrant_api_key=qdrant_api_key, collection=collection,
                         index_argv=index_argv, index_workers=index_workers, max_upload_bytes=max_upload_bytes,
                         offline=offline)


def run_server(*, host: str, port: int, api_keys: list[str], home: str | None, qdrant_path: str | None,
               qdrant_url: str | None, qdrant_api_key: str | None, collection: str, index_argv: list[str],
               index_workers: int, max_upload_bytes: int, offline: bool) -> None:
    import uvicorn

    from sceneline.pipelines.server import ServerSettings, create_app
    from sceneline.pipelines.server.auth import hash_key, new_salt
    from sceneline.transforms.store.scene_store import DEFAULT_LOCAL_PATH, store_config

    if home is None:  # the folder that holds the default index (.sceneline), so both live together
        home = str(Path(DEFAULT_LOCAL_PATH).parent)
    salt = new_salt()
    settings = ServerSettings(
        home=Path(home), store=store_config(qdrant_path or str(Path(home) / "qdrant"), qdrant_url, qdrant_api_key,
                                            collection),
        index_argv=tuple(index_argv), api_key_hashes=tuple(hash_key(k, salt) for k in api_keys), key_salt=salt,
        index_workers=index_workers, max_upload_bytes=max_upload_bytes, offline=offline)
    typer.echo(f"sceneline API at http://{host}:{port}/v1.3 (docs at /docs); Ctrl-C stops", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
