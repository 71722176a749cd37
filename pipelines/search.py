"""The query side: encode a text or image query with the index's own model, find scenes."""

from __future__ import annotations

import functools

import numpy as np

from sceneline.schemas import SearchHit, SearchRequest
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.clip_model import ClipModel, load_clip
from sceneline.transforms.media_io import open_for_read
from sceneline.transforms.model_spec import parse_clip_spec, preflight
from sceneline.transforms.store import SceneStore


class SearchError(RuntimeError):
    pass


@functools.lru_cache(maxsize=4)
def _clip_for(spec_text: str, device: str) -> ClipModel:
    spec = parse_clip_spec(spec_text)
    if spec is None:
        raise SearchError("this index was built without a visual model; nothing to search by image or text")
    return load_clip(spec, device=device)


def visual_model_of(store: SceneStore, override: str | None = None) -> str:
    """The visual model spec the index was built with (or the caller's override)."""
    if override:
        return override
    models = store.index_info().get("models", {})
    if VISUAL_VECTOR not in models:
        if not store.collections_exist():
            raise SearchError(f"no index in {store.config.describe()} (collection {store.config.collection!r}); "
                              "run `sceneline index` first")
        raise SearchError("this index has no visual vectors")
    return models[VISUAL_VECTOR]


def query_vector(request: SearchRequest, model: ClipModel) -> list[float]:
    """Text through the text tower, an image through the image tower; both: their normalised sum."""
    parts = []
    if request.text:
        parts.append(model.embed_texts([request.text])[0])
    if request.image_path:
        with open_for_read(request.image_path) as f:
            parts.append(model.embed_images([f.read()])[0])
    vector = np.sum(parts, axis=0)
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32).tolist()


def search_scenes(store: SceneStore, request: SearchRequest, *, visual_model: str | None = None,
                  offline: bool = False, device: str = "cpu") -> list[SearchHit]:
    spec_text = visual_model_of(store, visual_model)
    preflight(spec_text, offline=offline)
    model = _clip_for(spec_text, device)
    return store.search(VISUAL_VECTOR, query_vector(request, model), limit=request.limit)
