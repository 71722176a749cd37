"""Visual model specs in open_clip's style, and finding their weights before work starts.

    ARCH:TAG          an open_clip pretrained tag (weights from the Hugging Face hub or its cache)
    ARCH:/path.pt     a local checkpoint (also file:/path.pt)
    ARCH:gs://b/c.pt  a checkpoint in Cloud Storage (copied to a local cache once per worker)
    ARCH:random       the real architecture with fixed-seed random weights: timing runs only
    local-dir:DIR     a folder with open_clip_config.json and weights (open_clip's own layout)
    hf-hub:ORG/REPO   an open_clip model repository on the hub
    none              no visual model

ARCH is an open_clip model name (ViT-B-32, ...) or the path of a JSON model config, which is
registered under its file name, so custom architectures load through the same path.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sceneline.schemas.failures import UserError
from sceneline.schemas.settings import ModelSettings, SettingError

log = logging.getLogger(__name__)

DEFAULT_VISUAL_MODEL = ModelSettings.default("visual_model")
MODEL_CACHE = Path(os.environ.get("SCENELINE_MODEL_CACHE", Path.home() / ".cache" / "sceneline" / "models"))
OFFLINE_ENV = "SCENELINE_OFFLINE"


class ModelUnavailableError(UserError, RuntimeError):
    """A model's weights cannot be had; the message says which model and how to supply it."""


@dataclass(frozen=True)
class ClipSpec:
    raw: str
    arch: str
    source: str  # tag | file | gcs | random | local-dir | hf-hub
    pretrained: str | None = None

    @property
    def is_random(self) -> bool:
        return self.source == "random"


@dataclass(frozen=True)
class ModelLocation:
    raw: str
    source: str  # hub | local-dir | gcs
    where: str  # hub id, folder path or gs:// prefix

    @property
    def is_hub(self) -> bool:
        return self.source == "hub"


def parse_location(text: str) -> ModelLocation:
    """`local-dir:DIR`, a path, `gs://...`, `hf-hub:ORG/NAME` or a bare hub id `ORG/NAME`."""
    raw = text.strip()
    if raw.startswith("local-dir:"):
        folder = raw[len("local-dir:"):]
        if not folder:
            raise SettingError(f"model spec {text!r} names no folder")
        return ModelLocation(raw, "local-dir", os.path.expanduser(folder))
    if raw.startswith("gs://"):
        return ModelLocation(raw, "gcs", raw.rstrip("/") + "/")
    if raw.startswith("hf-hub:"):
        raw_id = raw[len("hf-hub:"):]
        if not raw_id:
            raise SettingError(f"model spec {text!r} names no hub repository")
        return ModelLocation(raw, "hub", raw_id)
    if raw.startswith(("/", "./", "../", "~")) or Path(raw).expanduser().is_dir():
        return ModelLocation(raw, "local-dir", os.path.expanduser(raw))
    return ModelLocation(raw, "hub", raw)


def parse_clip_spec(spec: str) -> ClipSpec | None:
    """Parse a visual model spec; None for "none". Raises ValueError on a malformed spec."""
    raw = spec.strip()
    if not raw:  # an empty value is a slip (an unset variable), not a request for no model
        raise SettingError("the visual model is empty: give one (e.g. "
                           f"{DEFAULT_VISUAL_MODEL}) or 'none' for no visual vectors")
    if raw.lower() == "none":
        return None
    if raw.startswith(("local-dir:", "hf-hub:")):  # open_clip reads these itself
        return ClipSpec(raw, raw, {"hub": "hf-hub"}.get(parse_location(raw).source, "local-dir"))
    arch, sep, pretrained = raw.partition(":")
    if not sep or not arch or not pretrained:
        raise SettingError(
            f"model spec {spec!r} is not ARCH:PRETRAINED (e.g. {DEFAULT_VISUAL_MODEL}, "
            "ViT-B-32:/path/ckpt.pt, ViT-B-32:random, local-dir:DIR or none)")
    if pretrained == "random":
        return ClipSpec(raw, arch, "random")
    if pretrained.startswith("gs://"):
        return ClipSpec(raw, arch, "gcs", pretrained)
    if pretrained.startswith("file:"):
        return ClipSpec(raw, arch, "file", pretrained[len("file:"):])
    if pretrained.startswith(("/", "./", "../", "~")) or os.path.sep in pretrained:
        return ClipSpec(raw, arch, "file", os.path.expanduser(pretrained))
    return ClipSpec(raw, arch, "tag", pretrained)


def is_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


def set_offline() -> None:
    """Never reach for a model hub: missing weights fail at once instead of retrying for a minute."""
    os.environ[OFFLINE_ENV] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:  # huggingface_hub reads the variable when imported; tell it if it already was
        import huggingface_hub.constants as hf_constants

        hf_constants.HF_HUB_OFFLINE = True
    except Exception:
        pass


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the model hub answers at all (a TCP connection; DNS failing says no at once)."""
    parts = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((parts.hostname or "huggingface.co", parts.port or 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def offline_without_hub() -> None:
    """Without a reachable hub, work offline: cached weights load at once and missing ones fail
    at once, instead of a minute of the hub client's retries and warnings."""
    if not is_offline() and not hub_reachable():
        log.info("the model hub cannot be reached: working offline (cached models only)")
        set_offline()


def _how_to_supply(spec: ClipSpec) -> str:
    arch = spec.arch if spec.source not in ("local-dir", "hf-hub") else "ViT-B-32"
    return (
        "Ways to supply it: run once with network access so the weights land in the Hugging Face "
        f"cache; pass a local checkpoint, --visual-model {arch}:/path/to/open_clip_pytorch_model.bin; "
        f"a Cloud Storage one, --visual-model {arch}:gs://BUCKET/ckpt.bin; a folder in open_clip's "
        f"layout, --visual-model local-dir:DIR; for timing runs only, --visual-model {arch}:random "
        "(random weights: search results are meaningless); or --visual-model none. Without network "
        "access, --offline uses weights already in the cache and fails at once when they are not.")


def model_name(spec: ClipSpec) -> str:
    """The name open_clip knows the architecture by (registering a JSON config if given one)."""
    if spec.source in ("local-dir", "hf-hub"):
        return spec.arch
    if spec.arch.endswith(".json"):
        import open_clip

        path = Path(spec.arch).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"model config {path} does not exist")
        open_clip.add_model_config(path)
        return path.stem
    return spec.arch


def _gcs_cache_path(uri: str) -> Path:
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return MODEL_CACHE / digest / uri.rsplit("/", 1)[-1]


def _copy_from_gcs(uri: str) -> Path:
    target = _gcs_cache_path(uri)
    if target.is_file():
        return target
    copy_object(uri, target)
    return target


def copy_object(uri: str, target: Path) -> None:
    """Copy one object (gs:// or any Beam file system) to a local file, atomically: a worker
    killed mid-copy leaves no half file under the final name."""
    from apache_beam.io.filesystems import FileSystems

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    with FileSystems.open(uri) as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    os.replace(tmp, target)


def resolve_weights(spec: ClipSpec) -> str | None:
    """A local file to load the weights from (None: random weights, or open_clip finds them
    itself for local-dir/hf-hub). Raises ModelUnavailableError when they cannot be had."""
    import open_clip

    try:
        name = model_name(spec)
        if spec.source in ("local-dir", "hf-hub"):
            if spec.source == "local-dir":
                folder = Path(spec.arch[len("local-dir:"):]).expanduser()
                if not (folder / "open_clip_config.json").is_file():
                    raise FileNotFoundError(f"{folder} has no open_clip_config.json")
            else:
                open_clip.get_model_config(name)  # fetches (or finds cached) the config
            return None
        if open_clip.get_model_config(name) is None:
            raise SettingError(f"open_clip knows no architecture {name!r}")
        if spec.source == "random":
            return None
        if spec.source == "file":
            if not Path(spec.pretrained).is_file():
                raise FileNotFoundError(f"no checkpoint at {spec.pretrained}")
            return spec.pretrained
        if spec.source == "gcs":
            return str(_copy_from_gcs(spec.pretrained))
        cfg = open_clip.get_pretrained_cfg(name, spec.pretrained)
        if not cfg:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
            raise SettingError(f"open_clip has no pretrained tag {spec.pretrained!r} for {name} (tags: {tags})")
        return open_clip.download_pretrained(cfg)
    except (ModelUnavailableError, SettingError):
        raise  # already says what is wrong; ways to supply weights cannot help an unknown name
    except Exception as exc:
        raise ModelUnavailableError(
            f"visual model {spec.raw} is not available: {exc}. {_how_to_supply(spec)}") from exc


def embedding_dim(spec: ClipSpec) -> int:
    import open_clip

    cfg = open_clip.get_model_config(model_name(spec))
    if not cfg or "embed_dim" not in cfg:
        raise ModelUnavailableError(f"cannot tell the embedding size of {spec.raw}")
    return int(cfg["embed_dim"])


def preflight(spec_text: str, *, offline: bool = False) -> tuple[ClipSpec, int] | None:
    """Check, before any work, that the visual model can be had. Returns (spec, dim) or None
    for "none"; raises ModelUnavailableError (or ValueError for a malformed spec)."""
    if offline:
        set_offline()
    spec = parse_clip_spec(spec_text)
    if spec is not None and spec.source in ("tag", "hf-hub"):
        offline_without_hub()
    if spec is None:
        return None
    resolve_weights(spec)
    if spec.is_random:
        log.warning("*** visual model %s uses RANDOM weights: embeddings are for timing runs only; "
                    "search results will be meaningless ***", spec.raw)
    return spec, embedding_dim(spec)
