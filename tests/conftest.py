"""Shared fixtures: the real test media, a tiny open_clip model the tests build, clip makers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# Tests never reach a model hub or a cloud metadata server (see ../shared/ENVIRONMENT.md).
os.environ.setdefault("SCENELINE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_GCE_CHECK", "true")

# Google Cloud emulator fixtures (pubsub_emulator, bucket_events), for every test module.
from emulators import bucket_events, pubsub_emulator  # noqa: E402,F401

REPO_ROOT = Path(__file__).resolve().parents[1]
MEDIA_ROOT = Path(os.environ.get("SCENELINE_TEST_MEDIA", REPO_ROOT.parent / "shared" / "media"))


def media(relative: str) -> Path:
    """A file from ../shared/media; fails, naming the file, when it is not there."""
    path = MEDIA_ROOT / relative
    if not path.exists():
        pytest.fail(f"test media missing: {path} (set SCENELINE_TEST_MEDIA to the shared media folder)")
    return path


def all_videos() -> list[Path]:
    folder = media("videos")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".txt"))


@pytest.fixture(scope="session")
def media_root() -> Path:
    return media("")


# A tiny open_clip architecture: real open_clip code, 64-pixel input, random weights saved by
# the tests, so every loading path (config + checkpoint, local-dir) runs without a model hub.
TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class TinyClip:
    folder: Path
    config: Path
    checkpoint: Path
    local_dir: Path

    @property
    def spec(self) -> str:
        """ARCH:PRETRAINED with ARCH a JSON config and PRETRAINED a checkpoint path."""
        return f"{self.config}:{self.checkpoint}"

    @property
    def local_dir_spec(self) -> str:
        return f"local-dir:{self.local_dir}"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> TinyClip:
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / "tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(1234)
    model = open_clip.create_model("tiny-clip")
    checkpoint = folder / "tiny-clip.pt"
    torch.save(model.state_dict(), checkpoint)
    local_dir = folder / "local-dir"
    local_dir.mkdir()
    (local_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG}))
    torch.save(model.state_dict(), local_dir / "open_clip_pytorch_model.bin")
    return TinyClip(folder=folder, config=config, checkpoint=checkpoint, local_dir=local_dir)
