"""`sceneline init-index`: the collections exist, sized for the model, before workers start.
The server path goes through a real QdrantClient(url=...) against a local folder served in
Qdrant's REST dialect by `sceneline serve` in another process (no Qdrant server binary can be
had here)."""

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
from sceneline.transforms.store.gateway import ADVERT_NAME


@contextlib.contextmanager
def served(folder: Path):
    """`sceneline serve` for the folder, in its own process, as a Qdrant server stands in."""
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


def test_init_index_creates_the_collections_on_a_server_url(tmp_path, tiny_clip):
    with served(tmp_path / "qdrant") as url:
        result = CliRunner().invoke(app, ["init-index", "--qdrant-url", url, "--collection", "media",
                                          "--visual-model", tiny_clip.spec, "--offline"])
        assert result.exit_code == 0, result.output
        info = json.loads(result.stdout)
        # The visual vector sized for the model; the text vector for the default text model
        # (all-MiniLM-L6-v2, 384-d), so an index run with default flags fits this index.
        assert info["vector_dims"] == {VISUAL_VECTOR: 64, TEXT_VECTOR: 384}
        assert info["models"] == {VISUAL_VECTOR: tiny_clip.spec, TEXT_VECTOR: "sentence-transformers/all-MiniLM-L6-v2"}
        assert info["assets_collection"] == "media_assets"
        store = SceneStore(StoreConfig(url=url, collection="media"))
        params = store._client.get_collection("media").config.params.vectors
        assert params[VISUAL_VECTOR].size == 64 and params[VISUAL_VECTOR].distance.value == "Cosine"
        assert store._client.collection_exists("media_assets")
        # Again with the same model: a no-op; with another: refused, naming the mismatch.
        again = CliRunner().invoke(app, ["init-index", "--qdrant-url", url, "--collection", "media",
                                         "--visual-model", tiny_clip.spec, "--offline"])
        assert again.exit_code == 0, again.output
        other = CliRunner().invoke(app, ["init-index", "--qdrant-url", url, "--collection", "media",
                                         "--visual-model", "ViT-B-32:random", "--offline"])
        assert other.exit_code == 2 and "--collection NAME" in other.output
    close_shared_clients()
