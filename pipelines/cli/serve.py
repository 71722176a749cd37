"""`sceneline serve`: the TwelveLabs v1.3 API over this machine's index (pipelines/server/).

It owns a local index folder while it runs: other processes (`sceneline search`, `status`,
`index`) reach the folder through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from sceneline.pipelines.cli.common import (
    BeamArgs,
    UserError,
    Verbose,
    configure_logging,
    fail,
    option,
    run_guarded,
    settings_argv,
    split_beam_flags,
)
from sceneline.schemas.bucket_root import BucketRoot, is_bucket_uri
from sceneline.schemas.limits import Limits
from sceneline.transforms.io.gcp_env import require_cloud_credentials
from sceneline.pipelines.cli.analyze import server_analysis_settings
from sceneline.schemas.settings import (
    AnalyzerSettings,
    LOOPBACK_HOSTS,
    AnalysisSettings,
    ModelSettings,
    ServeSettings,
    StoreSettings,
    UnderstandingSettings,
)

# What each indexing run the server starts takes from the command line (as `sceneline index` would).
INDEX_RUN_GROUPS = (ModelSettings, UnderstandingSettings, AnalysisSettings, Limits)


class ListenAddressError(UserError):
    """A server without an API key must not be reachable from other machines."""


def check_listen_address(host: str, api_keys: list[str]) -> None:
    """Without an API key the server is open to whoever reaches it: loopback only."""
    if not api_keys and host not in LOOPBACK_HOSTS:
        raise ListenAddressError(f"refusing to listen on {host} without an API key: give --api-key KEY "
                                 f"(or listen on 127.0.0.1)")


def serve(
    host: str = option(ServeSettings, "host"),
    port: int = option(ServeSettings, "port"),
    api_key: List[str] = option(ServeSettings, "api_key"),
    home: str = option(ServeSettings, "home"),
    media_root: Optional[str] = option(ServeSettings, "media_root"),
    index_workers: int = option(ServeSettings, "index_workers"),
    max_upload_bytes: int = option(ServeSettings, "max_upload_bytes"),
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
    offline: bool = option(ModelSettings, "offline"),
    verbose: bool = Verbose,
    max_bytes: int = option(Limits, "max_bytes"),
    max_duration_s: float = option(Limits, "max_duration_s"),
    max_pixels: int = option(Limits, "max_pixels"),
    max_frames: int = option(Limits, "max_frames"),
    time_budget_s: float = option(Limits, "time_budget_s"),
    analyzer: str = option(AnalyzerSettings, "analyzer"),
    analyzer_url: Optional[str] = option(AnalyzerSettings, "analyzer_url"),
    analyzer_api_key: Optional[str] = option(AnalyzerSettings, "analyzer_api_key"),
    analyzer_concurrency: int = option(AnalyzerSettings, "analyzer_concurrency"),
    analyzer_timeout: float = option(AnalyzerSettings, "analyzer_timeout"),
    context_tokens: int = option(AnalyzerSettings, "context_tokens"),
    keyframes: int = option(AnalyzerSettings, "keyframes"),
    beam_args: Optional[List[str]] = BeamArgs,
) -> None:
    """Serve the TwelveLabs v1.3 API: upload videos, follow indexing, search (docs/api.md).

    Beam flags (--beam-arg NAME=VALUE) go to each indexing run's Beam options."""
    configure_logging(verbose)
    try:
        check_listen_address(host, api_key)
    except ListenAddressError as exc:
        fail(exc)
    if qdrant_path == ":memory:":
        fail(UserError("serve needs an index its indexing processes can reach: a --qdrant-path folder or a "
                       "--qdrant-url"))
    if is_bucket_uri(media_root):
        run_guarded(BucketRoot.parse, media_root)  # a malformed root is a usage error, before anything starts
        run_guarded(require_cloud_credentials, "serve --media-root gs://...")
    index_argv = settings_argv(locals(), *INDEX_RUN_GROUPS) + split_beam_flags(None, beam_args)[1]
    run_guarded(run_server, host=host, port=port, api_keys=api_key, home=home, media_root=media_root,
                qdrant_path=qdrant_path,
                qdrant_url=qdrant_url, qdrant_api_key=qdrant_api_key, collection=collection,
                index_argv=index_argv, index_workers=index_workers, max_upload_bytes=max_upload_bytes,
                offline=offline, **server_analysis_settings(analyzer, analyzer_url, analyzer_api_key,
                                                            analyzer_concurrency, analyzer_timeout, context_tokens,
                                                            keyframes))


def run_server(*, host: str, port: int, api_keys: list[str], home: str, media_root: str | None,
               qdrant_path: str | None,
               qdrant_url: str | None, qdrant_api_key: str | None, collection: str, index_argv: list[str],
               index_workers: int, max_upload_bytes: int, offline: bool, **analysis: Any) -> None:
    # uvicorn, FastAPI and the store engines load when the server starts, not at CLI start.
    import uvicorn

    from sceneline.pipelines.server import ServerSettings, create_app
    from sceneline.pipelines.server.auth import hash_key, new_salt
    from sceneline.pipelines.server.settings import default_index_workers
    from sceneline.transforms.store.scene_store import store_config

    salt = new_salt()
    settings = ServerSettings(
        home=Path(home), store=store_config(qdrant_path or str(Path(home) / "qdrant"), qdrant_url, qdrant_api_key,
                                            collection),
        index_argv=tuple(index_argv), api_key_hashes=tuple(hash_key(k, salt) for k in api_keys), key_salt=salt,
        index_workers=index_workers or default_index_workers(), max_upload_bytes=max_upload_bytes, offline=offline,
        media_location=media_root, **analysis)
    typer.echo(f"sceneline API at http://{host}:{port}/v1.3 (docs at /docs); Ctrl-C stops", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command()(serve)
