"""The query side: encode a query with the index's own models, find scenes, fuse, filter, group.

    text        -> `visual` (CLIP text tower) and `text` (sentence model) vectors
    image       -> `visual` (CLIP image tower)
    text+image  -> `visual` (normalised sum of both towers) and `text` (the words)
    transcription (asked for by name) -> speech segments, on their own time ranges: the query's
                   words (lexical) and its meaning (the segments' `text` vectors), fused

With more than one vector the rankings are fused with reciprocal-rank fusion in Qdrant's query
API (a prefetch per vector); transcription hits join scene hits by the same fusion. `search` is
the one entry point; the CLI, a streaming pipeline and an HTTP server all call it.
"""

from __future__ import annotations

import os


import numpy as np
from qdrant_client.models import FieldCondition, Filter, MatchAny

from sceneline.schemas.failures import UserError
from sceneline.pipelines.filters import translate_filter
from sceneline.schemas import SearchGroup, SearchHit, SearchPage, SearchRequest
from sceneline.schemas.qdrant_layout import TEXT_VECTOR, VISUAL_VECTOR
from sceneline.schemas.search import TRANSCRIPTION
from sceneline.transforms.models.clip_model import ClipModel, load_clip
from sceneline.transforms.io.media_io import open_for_read
from sceneline.transforms.models.model_spec import parse_clip_spec, preflight, set_offline
from sceneline.transforms.store.scene_store import SceneStore
from sceneline.transforms.models.text_model import load_text_encoder
from sceneline.transforms.models.cache import process_model
from sceneline.transforms.store.speech_ranking import fuse_rrf


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


def _speech_vector(request: SearchRequest, models: dict[str, str], *, offline: bool,
                   device: str) -> list[float] | None:
    """The query's `text` vector for semantic transcription search (None: lexical only)."""
    options = request.transcription_options
    if not request.text:
        raise SearchError("the transcription modality needs query text")
    if "semantic" not in options:
        return None
    if TEXT_VECTOR not in models:
        if "lexical" in options:
            return None  # the index has no sentence vectors: the words alone
        raise SearchError("this index has no text vectors (built with --text-model none); "
                          "search transcription with lexical matching")
    if offline:
        set_offline()
    return load_text_encoder(models[TEXT_VECTOR], device).embed([request.text])[0].tolist()


def request_filter(request: SearchRequest) -> Filter | None:
    """The request's filter in Qdrant's terms, its excluded assets included."""
    query_filter = translate_filter(request.filter)
    if not request.exclude_assets:
        return query_filter
    excluded = FieldCondition(key="asset_id", match=MatchAny(any=list(request.exclude_assets)))
    return Filter(must=query_filter.must if query_filter else None, must_not=[excluded])


def search_speech(store: SceneStore, request: SearchRequest, *, wanted: int, offline: bool = False,
                  device: str = "cpu", models: dict[str, str] | None = None) -> list[SearchHit]:
    """The best `wanted` speech segments for a request (transcription hits), best first."""
    models = index_models(store) if models is None else models
    vector = _speech_vector(request, models, offline=offline, device=device)
    return store.query_speech(request.text, vector, limit=wanted, query_filter=request_filter(request),
                              lexical="lexical" in request.transcription_options,
                              threshold=request.threshold_for(TEXT_VECTOR) if vector is not None else None)


def _hit_key(hit: SearchHit) -> tuple:
    return hit.asset_id, hit.segment_index if hit.segment_index is not None else -1, hit.scene_index


def _with_speech(store: SceneStore, request: SearchRequest, models: dict[str, str], scene_hits: list[SearchHit], *,
                 wanted: int, offline: bool, device: str) -> list[SearchHit]:
    """Scene hits (may be none) and transcription hits in one ranking, by reciprocal rank."""
    speech_hits = search_speech(store, request, wanted=wanted, offline=offline, device=device, models=models)
    if not scene_hits:
        return speech_hits
    by_key = {_hit_key(h): h for h in scene_hits + speech_hits}
    fused = fuse_rrf([[_hit_key(h) for h in scene_hits], [_hit_key(h) for h in speech_hits]])
    return [by_key[key].model_copy(update={"score": score}) for key, score in fused]


def _group_hits(hits: list[SearchHit], group_size: int) -> list[list[SearchHit]]:
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        clips = groups.setdefault(hit.asset_id, [])
        if len(clips) < group_size:
            clips.append(hit)
    return list(groups.values())


def search(store: SceneStore, request: SearchRequest, *, visual_model: str | None = None,
           offline: bool = False, device: str = "cpu") -> SearchPage:
    """One page of results for a request (raises SearchError or FilterError when it cannot run)."""
    query_filter = request_filter(request)
    models = index_models(store)
    if TRANSCRIPTION in request.modalities:
        return _search_with_speech(store, request, models, visual_model=visual_model, offline=offline,
                                   device=device)
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


def _search_with_speech(store: SceneStore, request: SearchRequest, models: dict[str, str], *,
                        visual_model: str | None, offline: bool, device: str) -> SearchPage:
    """Transcription alone, or with scene modalities fused in (ranked here, then paged)."""
    skip = (request.page - 1) * request.limit
    grouped = request.group_by == "video"
    # Groups need the ranking deep enough to fill every video's clips on this page.
    wanted = (skip + request.limit + 1) * (request.group_size if grouped else 1)
    scene_modalities = tuple(m for m in request.modalities if m != TRANSCRIPTION)
    scene_hits: list[SearchHit] = []
    searched: tuple[str, ...] = ()
    if scene_modalities:
        scenes_request = request.model_copy(update={"modalities": scene_modalities, "page": 1,
                                                    "group_by": "clip", "limit": min(wanted, 1000)})
        scene_page = search(store, scenes_request, visual_model=visual_model, offline=offline, device=device)
        scene_hits, searched = scene_page.hits, scene_page.modalities
    hits = _with_speech(store, request, models, scene_hits, wanted=wanted, offline=offline, device=device)
    page = dict(page=request.page, modalities=(*searched, TRANSCRIPTION), fused=bool(scene_modalities) or
                set(request.transcription_options) == {"lexical", "semantic"})
    if grouped:
        found = _group_hits(hits, request.group_size)
        groups = [_group(clips) for clips in found[skip:skip + request.limit]]
        return SearchPage(hits=[h for g in groups for h in g.clips], groups=groups,
                          has_more=len(found) > skip + request.limit, **page)
    return SearchPage(hits=hits[skip:skip + request.limit], has_more=len(hits) > skip + request.limit, **page)


def search_scenes(store: SceneStore, request: SearchRequest, *, visual_model: str | None = None,
                  offline: bool = False, device: str = "cpu") -> list[SearchHit]:
    """The hits of `search`, best first (grouped requests: each group's clips in group order)."""
    return search(store, request, visual_model=visual_model, offline=offline, device=device).hits


def search_through_owner(url: str, collection: str, request: SearchRequest, *, visual_model: str | None = None,
                         offline: bool = False) -> SearchPage | None:
    """A page of results from the process that owns a local index (pipelines/store_service.py),
    which keeps the query models loaded; None when that owner answers no searches (an indexing
    run), so the caller searches itself."""
    import httpx

    if request.image_path and "://" not in request.image_path:  # the owner resolves paths from elsewhere
        request = request.model_copy(update={"image_path": os.path.abspath(request.image_path)})
    body = {"request": request.model_dump(mode="json"), "visual_model": visual_model, "offline": offline}
    try:
        answer = httpx.post(f"{url}/internal/store/search/{collection}", json=body, timeout=300)
    except httpx.HTTPError:
        return None  # the owner went away: search here
    if answer.status_code == 404:
        return None
    if answer.status_code == 400:
        raise SearchError(answer.json().get("detail", answer.text))
    answer.raise_for_status()
    return SearchPage.model_validate(answer.json())
