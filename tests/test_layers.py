"""The layering rules (pyproject.toml, [tool.importlinter]) hold: schemas import nothing of
the project, transforms never import pipelines, and no sibling modules import each other
in a cycle. Checked with import-linter on the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_FOLDERS = ("schemas", "transforms", "pipelines", "benchmarks")  # installed as sceneline.<folder>


def test_the_import_contracts_are_kept(tmp_path):
    # The folders install under the `sceneline` namespace (pyproject's package-dir); import-linter
    # reads source files, so give it that namespace as a folder of links.
    package = tmp_path / "sceneline"
    package.mkdir()
    (package / "__init__.py").touch()
    for folder in TOP_FOLDERS:
        (package / folder).symlink_to(REPO / folder)
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint, "--config", str(REPO / "pyproject.toml"), "--no-cache"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
