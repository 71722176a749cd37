"""`sceneline serve`: share a local index folder with other processes, in Qdrant's REST dialect."""

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
    port: int = typer.Option(6333, "--port", help="Port (Qdrant's own default)."),
) -> None:
    """Serve a local index folder to other processes and tools, in Qdrant's REST dialect.

    While it runs, `sceneline index/search/status --qdrant-path DIR` from other terminals reach
    the folder through it (found automatically), and so does any Qdrant client at the URL.
    """
    configure_logging(False)
    # qdrant-client and the web server load when this command runs, not at CLI start.
    from sceneline.transforms.store.gateway import serve_folder
    from sceneline.transforms.store.scene_store import store_config

    folder = store_config(path=qdrant_path).path

    def run() -> None:
        stop = threading.Event()
        # Ctrl-C in a terminal, SIGTERM from a service manager: both end the block, which
        # removes the advert so other processes stop routing to this one.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        with serve_folder(folder, host=host, port=port) as url:
            err.print(f"serving {folder} at {url} (Ctrl-C stops)")
            while not stop.wait(1.0):
                pass

    run_guarded(run)


def register(app: typer.Typer) -> None:
    app.command()(serve)
