"""The web console: one self-contained page (HTML, JS modules, CSS; no build step, no CDN) that
uploads, lists, searches and plays videos through the server's own TwelveLabs v1.3 routes.

The page holds no server logic: it calls /v1.3 like the SDK does. The server mounts it at `/`
after its API routes, so the API keeps its paths and everything else is the page's files.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
CONSOLE_PATH = "/"


def mount_console(app: FastAPI) -> None:
    """Serve the console at `/` (index.html for the folder). Call it after the API routes: a
    mount at `/` matches every path, so routes added later would never be reached."""
    app.mount(CONSOLE_PATH, StaticFiles(directory=STATIC_DIR, html=True), name="console")
