"""The web console: one self-contained page (HTML, JS modules, CSS; no build step, no CDN) that
uploads, lists, searches and plays videos through the server's own TwelveLabs v1.3 routes.

The page holds no server logic: it calls /v1.3 like the SDK does. The server mounts it at `/`
after its API routes, so the API keeps its paths and everything else falls through to the files,
and from them to a fallback app (the store's Qdrant-REST dialect) when the server has one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).with_name("static")
CONSOLE_PATH = "/"


class ConsoleFiles:
    """The page's files; a path that is not one of them goes to `fallback` (when given).

    `/` is shared: a browser (it accepts text/html) gets the page, an API client such as
    qdrant-client gets the fallback's answer (Qdrant's root answers its version)."""

    def __init__(self, fallback: ASGIApp | None = None):
        self.files = StaticFiles(directory=STATIC_DIR, html=True)
        self.fallback = fallback
        self.names = {f"/{p.relative_to(STATIC_DIR).as_posix()}" for p in STATIC_DIR.rglob("*") if p.is_file()}

    def is_page(self, scope: Scope) -> bool:
        path = scope["path"]
        if path in ("/", "/index.html"):
            return "text/html" in Headers(scope=scope).get("accept", "")
        return path in self.names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fallback is not None and scope["type"] == "http" and not self.is_page(scope):
            await self.fallback(scope, receive, send)
        else:
            await self.files(scope, receive, send)


def mount_console(app: FastAPI, fallback: ASGIApp | None = None) -> None:
    """Serve the console at `/` (index.html for the folder). Call it after the API routes: a
    mount at `/` matches every path, so routes added later would never be reached."""
    app.mount(CONSOLE_PATH, ConsoleFiles(fallback), name="console")
