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
    with_options,
)
from sceneline.pipelines.cli.analyze import server_analysis_settings
from sceneline.pipelines.cli.option_sets import ANALYZER_OPTIONS, INDEX_CHAIN_OPTIONS, LIMIT_OPTIONS, STORE_OPTIONS
from sceneline.schemas.bucket_root import BucketRoot, is_bucket_uri
from sceneline.schemas.limits import Limits
from sceneline.transforms.io.gcp_env import require_cloud_credentials
from sceneline.schemas.settings import (
    LOOPBACK_HOSTS,
    AnalysisSettings,
    ModelSettings,
    ServeSettings,
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


@with_options(*STORE_OPTIONS, *INDEX_CHAIN_OPTIONS, *LIMIT_OPTIONS, *ANALYZER_OPTIONS)
def serve(
    host: str = option(ServeSettings, "host"),
    port: int = option(ServeSettings, "port"),
    api_key: List[str] = option(ServeSettings, "api_key"),
    home: str = option(ServeSettings, "home"),
    media_root: Optional[str] = option(ServeSettings, "media_root"),
    index_workers: int = option(ServeSettings, "index_workers"),
    max_upload_bytes: int = option(ServeSettings, "max_upload_bytes"),
    multipart_chunk_bytes: int = option(ServeSettings, "multipart_chunk_bytes"),
    verbose: bool = Verbose,
    beam_args: Optional[List[str]] = BeamArgs,
    **settings: Any,
) -> None:
    """Serve the TwelveLabs v1.3 API: upload videos, follow indexing, search (docs/api.md).

    Beam flags (--beam-arg NAME=VALUE) go to each indexing run's Beam options."""
    configure_logging(verbose)
    try:
        check_listen_address(host, api_key)
    except ListenAddressError as exc:
        fail(exc)
    if settings["qdrant_path"] == ":memory:":
        fail(UserError("serve needs an index its indexing processes can reach: a --qdrant-path folder or a "
                       "--qdrant-url"))
    if is_bucket_uri(media_root):
        run_guarded(BucketRoot.parse, media_root)  # a malformed root is a usage error, before anything starts
        run_guarded(require_cloud_credentials, "serve --media-root gs://...")
    index_argv = settings_argv(settings, *INDEX_RUN_GROUPS) + split_beam_flags(None, beam_args)[1]
    run_guarded(run_server, host=host, port=port, api_keys=api_key, home=home, media_root=media_root,
                **{name: settings[name] for _, name in STORE_OPTIONS}, index_argv=index_argv,
                index_workers=index_workers, max_upload_bytes=max_upload_bytes,
                multipart_chunk_bytes=multipart_chunk_bytes, offline=settings["offline"],
                **server_analysis_settings(settings))


def run_server(*, host: str, port: int, api_keys: list[str], home: str, media_root: str | None,
               qdrant_path: str | None,
               qdrant_url: str | None, qdrant_api_key: str | None, collection: str, index_argv: list[str],
               index_workers: int, max_upload_bytes: int, multipart_chunk_bytes: int, offline: bool,
               **analysis: Any) -> None:
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
        index_workers=index_workers or default_index_workers(), max_upload_bytes=max_upload_bytes,
        multipart_chunk_bytes=multipart_chunk_bytes, offline=offline, media_location=media_root, **analysis)
    typer.echo(f"sceneline API at http://{host}:{port}/v1.3 (docs at /docs); Ctrl-C stops", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command()(serve)
