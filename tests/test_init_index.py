"""`sceneline init-index`: the collections exist, sized for the model, before workers start.
Here the folder is owned by `sceneline serve` in another process, so init-index and the checks
go through its store protocol, as workers of a multi-process run do. (The qdrant-client server
path runs in tests/test_store_parity.py: no Qdrant server binary can be had here.)"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from sceneline.pipelines.cli import app
from sceneline.schemas.qdrant_layout import TEXT_VECTOR, VISUAL_VECTOR
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients
from sceneline.transforms.store.advert import ADVERT_NAME


@contextlib.contextmanager
def served(folder: Path):
    """`sceneline serve` for the folder, in its own process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("sceneline")), "serve", "--qdrant-path",
                               str(folder), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (folder / ADVERT_NAME).exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_init_index_creates_the_collections_in_a_folder_another_process_owns(tmp_path, tiny_clip):
    folder = str(tmp_path / "qdrant")
    with served(tmp_path / "qdrant"):
        result = CliRunner().invoke(app, ["init-index", "--qdrant-path", folder, "--collection", "media",
                                          "--visual-model", tiny_clip.spec, "--offline"])
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        # The visual vector sized for the model; the text vector for the default text model
        # (all-MiniLM-L6-v2, 384-d), so an index run with default flags fits this index.
        assert info["vector_dims"] == {VISUAL_VECTOR: 64, TEXT_VECTOR: 384}
        assert info["models"] == {VISUAL_VECTOR: tiny_clip.spec, TEXT_VECTOR: "sentence-transformers/all-MiniLM-L6-v2"}
        assert info["assets_collection"] == "media_assets"
        store = SceneStore(StoreConfig(path=folder, collection="media"))
        assert "through its owner" in store.backend.describe
        assert store.backend.collection_spec("media").vectors == {VISUAL_VECTOR: 64, TEXT_VECTOR: 384}
        assert store.backend.collection_exists("media_assets")
        # Again with the same model: a no-op; with another: refused, naming the mismatch.
        again = CliRunner().invoke(app, ["init-index", "--qdrant-path", folder, "--collection", "media",
                                         "--visual-model", tiny_clip.spec, "--offline"])
        assert again.exit_code == 0, again.output
        other = CliRunner().invoke(app, ["init-index", "--qdrant-path", folder, "--collection", "media",
                                         "--visual-model", "ViT-B-32:random", "--offline"])
        assert other.exit_code == 2 and "--collection NAME" in other.output
    close_shared_clients()
