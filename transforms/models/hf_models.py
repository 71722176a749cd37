"""Finding a Hugging Face-layout model folder (transformers, sentence-transformers) before work.

A model is named by a hub id (`ORG/NAME`, fetched once into the Hugging Face cache), a local
folder (`local-dir:DIR`, or any path), or a Cloud Storage prefix (`gs://bucket/dir/`, copied
once per worker into sceneline's model cache). Whatever cannot be had fails with a
ModelUnavailableError that names the model and the ways to supply it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sceneline.transforms.models.model_spec import (  # noqa: F401 (ModelLocation, parse_location re-exported)
    MODEL_CACHE,
    ModelLocation,
    ModelUnavailableError,
    copy_object,
    is_offline,
    offline_without_hub,
    parse_location,
)

# What a checkpoint folder needs; not the ONNX, GGUF or PyTorch-pickle copies many repos carry.
CHECKPOINT_FILES = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.safetensors"]


def _copy_folder_from_gcs(prefix: str) -> Path:
    from apache_beam.io.filesystems import FileSystems

    target = MODEL_CACHE / hashlib.sha256(prefix.encode()).hexdigest()[:16]
    done = target / ".complete"
    if done.is_file():
        return target
    found = [m for r in FileSystems.match([prefix + "**"]) for m in r.metadata_list if not m.path.endswith("/")]
    if not found:
        raise FileNotFoundError(f"nothing found under {prefix}")
    for meta in found:
        dest = target / meta.path[len(prefix):]
        dest.parent.mkdir(parents=True, exist_ok=True)
        copy_object(meta.path, dest)
    done.touch()
    return target


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, allow_patterns=CHECKPOINT_FILES, local_files_only=is_offline()))


def resolve_folder(location: ModelLocation, *, what: str, needs: str, remedies: str) -> Path:
    """The local folder holding the model (fetching it once when it is remote).

    `needs` is a file the folder must hold (e.g. config.json); `remedies` completes the
    error message with the flags that supply the model another way.
    """
    try:
        if location.source == "local-dir":
            folder = Path(location.where)
            if not folder.is_dir():
                raise FileNotFoundError(f"no folder at {folder}")
        elif location.source == "gcs":
            folder = _copy_folder_from_gcs(location.where)
        else:
            offline_without_hub()
            folder = _hub_snapshot(location.where)
        if not (folder / needs).is_file():
            raise FileNotFoundError(f"{folder} has no {needs}")
        return folder
    except Exception as exc:
        hint = (" (offline or no hub reachable: nothing is fetched; --offline uses what is cached, or give a "
                "local folder)" if location.is_hub and is_offline() else "")
        raise ModelUnavailableError(
            f"{what} {location.raw} is not available{hint}: {exc}. {remedies}") from exc
