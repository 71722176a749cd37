"""The query side: encode a query with the index's own models, find scenes, fuse, filter, group.

    text        -> `visual` (CLIP text tower) and `text` (sentence model) vectors
    image       -> `visual` (CLIP image tower)
    text+image  -> `visual` (normalised sum of both towers) and `text` (the words)

With more than one vector the rankings are fused with reciprocal-rank fusion in Qdrant's query
API (a prefetch per vector). `search` is the one entry point; the CLI, a streaming pipeline and
an HTTP server all call it.
"""

from __future__ import annotations


import numpy as np

from sceneline.schemas.failures import UserError
from sceneline.pipelines.filters import translate_filter
from sceneline.schemas import SearchGroup, SearchHit, SearchPage, SearchRequest
from sceneline.schemas.qdrant_layout import TEXT_VECTOR, VISUAL_VECTOR
from sceneline.transforms.models.clip_model import ClipModel, load_clip
from sceneline.transforms.io.media_io import open_for_read
from sceneline.transforms.models.model_spec import parse_clip_spec, preflight, set_offline
from sceneline.transforms.store.scene_store import SceneStore
from sceneline.transforms.models.text_model import load_text_encoder
from sceneline.transforms.models.cache import process_model


class SearchError(UserError, RuntimeError):
    pass


def _clip_for(spec_text: str, device: str) -> ClipModel:
    return process_model(_load_clip_for, spec_text, device)


def _load_clip_for(spec_text: str, device: str) -> ClipModel:
    spec = parse_clip_spec(spec_text)
    if spec is None:
        raise SearchError("this index was built without a visual model; nothing to search by image or text")
    return load_clip(spec, device=device)


def index_models(store: SceneStore) -> dict[str, str]:
    """The model behind each vector of the index, as the collection records them."""
    models = store.index_info().get("models", {})
    if not models and not store.collections_exist():
        raise SearchError(f"no index in {store.config.describe()} (collection {store.config.collection!r}); "
                          "run `sceneline index` first")
    return dict(models)


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


def _chosen_vectors(request: SearchRequest, models: dict[str, str]) -> list[str]:
    """Which vectors this request searches, or a SearchError saying why none can be."""
    explicit = set(request.modalities) != {VISUAL_VECTOR, TEXT_VECTOR}  # the default is "both, if there"
    chosen = []
    if VISUAL_VECTOR in request.modalities:
        if VISUAL_VECTOR in models:
            chosen.append(VISUAL_VECTOR)
        elif explicit:
            raise SearchError("this index has no visual vectors (built with --visual-model none)")
    if TEXT_VECTOR in request.modalities:
        if TEXT_VECTOR not in models:
            if explicit:
                raise SearchError("this index has no text vectors (built with --text-model none); "
                                  "search with --modality visual")
        elif request.text:
            chosen.append(TEXT_VECTOR)
        elif explicit:
            raise SearchError("the text modality needs query text; an image alone searches the visual vectors")
    if not chosen:
        if not request.text:
            raise SearchError("an image query needs visual vectors, and this index has none")
        raise SearchError("this index has neither visual nor text vectors to search")
    return chosen


def _encode(request: SearchRequest, chosen: list[str], models: dict[str, str], *,
            visual_model: str | None, offline: bool, device: str) -> dict[str, list[float]]:
    vectors = {}
    if VISUAL_VECTOR in chosen:
        spec_text = visual_model or models[VISUAL_VECTOR]
        preflight(spec_text, offline=offline)
        vectors[VISUAL_VECTOR] = query_vector(request, _clip_for(spec_text, device))
    if TEXT_VECTOR in chosen:
        if offline:
            set_offline()
        encoder = load_text_encoder(models[TEXT_VECTOR], device)
        vectors[TEXT_VECTOR] = encoder.embed([request.text])[0].tolist()
    return vectors


def parse_threshold(text: str | None) -> float | dict[str, float] | None:
    """--threshold: one number for every modality, or `visual=0.2,text=0.4`."""
    if text is None or not text.strip():
        return None
    try:
        if "=" not in text:
            return float(text)
        pairs = (part.split("=", 1) for part in text.split(",") if part.strip())
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError as exc:
        raise SearchError(f"--threshold {text!r} is not a number or visual=N,text=N") from exc


def _group(hits: list[SearchHit]) -> SearchGroup:
    best = hits[0]
    return SearchGroup(asset_id=best.asset_id, uri=best.uri, filename=best.filename,
                       media_type=best.media_type, score=best.score, clips=hits)


def search(store: SceneStore, request: SearchRequest, *, visual_model: str | None = None,
           offline: bool = False, device: str = "cpu") -> SearchPage:
    """One page of results for a request (raises SearchError or FilterError when it cannot run)."""
    query_filter = translate_filter(request.filter)
    models = index_models(store)
    if visual_model:
        models[VISUAL_VECTOR] = visual_model
    chosen = _chosen_vectors(request, models)
    vectors = _encode(request, chosen, models, visual_model=visual_model, offline=offline, device=device)
    thresholds = {name: request.threshold_for(name) for name in vectors}
    skip = (request.page - 1) * request.limit
    common = dict(query_filter=query_filter, thresholds=thresholds)
    page = dict(page=request.page, modalities=tuple(vectors), fused=len(vectors) > 1)
    if request.group_by == "video":
        # Qdrant's group queries have no offset: take the pages up to this one, keep the last.
        found = store.query_scene_groups(vectors, groups=skip + request.limit + 1,
                                         group_size=request.group_size, **common)
        groups = [_group(hits) for hits in found[skip:skip + request.limit] if hits]
        return SearchPage(hits=[h for g in groups for h in g.clips], groups=groups,
                          has_more=len(found) > skip + request.limit, **page)
    hits = store.query_scenes(vectors, limit=request.limit + 1, offset=skip, **common)
    return SearchPage(hits=hits[:request.limit], has_more=len(hits) > request.limit, **page)


def search_scenes(store: SceneStore, request: SearchRequest, *, visual_model: str | None = None,
                  offline: bool = False, device: str = "cpu") -> list[SearchHit]:
    """The hits of `search`, best first (grouped requests: each group's clips in group order)."""
    return search(store, request, visual_model=visual_model, offline=offline, device=device).hits
