"""`sceneline serve`: own a local index folder and serve it to other processes (sceneline's store protocol)."""

from __future__ import annotations

import signal
import threading
from typing import Optional

import typer

from sceneline.pipelines.cli.common import configure_logging, err, option, run_guarded
from sceneline.schemas.settings import StoreSettings


def serve(
    qdrant_path: Optional[str] = option(StoreSettings, "qdrant_path"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(6333, "--port", help="Port to serve the store on."),
) -> None:
    """Own a local index folder and serve it to other processes (sceneline's store protocol).

    While it runs, `sceneline index/search/status --qdrant-path DIR` from other terminals reach
    the folder through it (found automatically from the folder's advert).
    """
    configure_logging(False)
    # qdrant-client and the web server load when this command runs, not at CLI start.
    from sceneline.pipelines.store_service import serve_store
    from sceneline.transforms.store.scene_store import store_config

    folder = store_config(path=qdrant_path).path

    def run() -> None:
        stop = threading.Event()
        # Ctrl-C in a terminal, SIGTERM from a service manager: both end the block, which
        # removes the advert so other processes stop routing to this one.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        with serve_store(folder, host=host, port=port) as url:
            err.print(f"serving {folder} at {url} (Ctrl-C stops)")
            while not stop.wait(1.0):
                pass

    run_guarded(run)


def register(app: typer.Typer) -> None:
    app.command()(serve)
