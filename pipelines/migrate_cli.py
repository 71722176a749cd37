"""`sceneline migrate-index`: copy an index of the old embedded default into the embedded engine."""

from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("migrate-index")
    def migrate_index(
        qdrant_path: Optional[str] = typer.Option(
            None, "--qdrant-path", envvar="SCENELINE_QDRANT_PATH",
            help="The index folder to migrate (default .sceneline/qdrant)."),
        as_json: bool = typer.Option(False, "--json", help="Print what was copied as JSON."),
    ) -> None:
        """Copy a local index written by an older sceneline (qdrant-client's local mode) into
        Qdrant's embedded engine, in place; the old files are kept under local-mode-backup/."""
        from sceneline.pipelines.cli import _run_guarded, err, out
        from sceneline.transforms.store.config import store_config
        from sceneline.transforms.store.legacy import migrate_folder

        folder = store_config(path=qdrant_path).path

        def run() -> None:
            done = migrate_folder(folder)
            if as_json:
                out.print_json(json.dumps({"folder": done.folder, "points": done.points, "backup": done.backup}))
                return
            for name, count in done.points.items():
                out.print(f"{name}: {count} points", highlight=False)
            err.print(f"migrated {folder}; the old files are in {done.backup} (delete them once satisfied)",
                      highlight=False)

        _run_guarded(run)
