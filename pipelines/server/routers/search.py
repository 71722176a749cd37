"""/search: text and image queries over an index, by clip or grouped by video, paged by token.

The query runs through pipelines/search.py (the CLI's search). Conditions on a whole video (its
id, file name, duration, size, user metadata ...) are decided on the server's records, which
also admit only `ready` videos; what is left (scene fields such as tags or start_s) becomes a
Qdrant filter (pipelines/filters.py). So a deleted or half-indexed video is never returned.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations as objects.
import uuid
from collections import defaultdict
from typing import Any, Callable, List, Optional

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from sceneline.pipelines.filters import FIELDS, METADATA, FilterError, translate_filter
from sceneline.pipelines.server.deps import (
    existing_index,
    get_records,
    get_settings,
    only_fields,
    parse_json_object,
    thumbnail_url,
)
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.models import SearchClip, SearchItem, SearchPageInfo, SearchPool, SearchResults
from sceneline.pipelines.server.records import READY, Records, VideoRow
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.pipelines.server.uploads import fetch_url, store_stream
from sceneline.schemas import SearchHit, SearchRequest
from sceneline.transforms.store.scene_store import SceneStore

router = APIRouter(tags=["search"])

SEARCH_FIELDS = ("index_id", "query_text", "query_media_type", "query_media_url", "query_media_file",
                 "search_options", "transcription_options", "group_by", "operator", "page_limit", "filter",
                 "include_user_metadata", "threshold", "adjust_confidence_level", "sort_option")
# Filter fields decided per video on the server's records (TwelveLabs' own fields).
VIDEO_FIELDS = {"id": "id", "filename": "filename", "duration": "duration", "width": "width",
                "height": "height", "fps": "fps", "size": "size"}
SCENE_FIELDS = set(FIELDS) - set(VIDEO_FIELDS) - {"asset_id", "uri", "size_bytes"}
# TwelveLabs' threshold words as least cosine similarities of sceneline's vectors.
THRESHOLDS = {"none": None, "low": 0.1, "medium": 0.2, "high": 0.3}
BUILT_OPTIONS = ("visual", "transcription")
PLANNED_OPTIONS = ("audio",)
# TwelveLabs' search options as sceneline's modalities: `visual` is what is seen (the image vector)
# and what is shown or described (the text vector); `transcription` the words said.
MODALITIES = {"visual": ("visual", "text"), "transcription": ("transcription",)}
CLIPS_PER_VIDEO = 10
MAX_QUERY_IMAGE_BYTES = 20 * 1024 * 1024


def _split_filter(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(video conditions, user-metadata conditions, scene conditions)."""
    translate_filter(spec)  # the same checks (and reasons) as the CLI's --filter
    video, metadata, scene = {}, {}, {}
    for name, value in spec.items():
        if name in VIDEO_FIELDS:
            video[name] = value
        elif name in SCENE_FIELDS:
            scene[name] = value
        elif name == METADATA:
            metadata.update(value)
        else:
            metadata[name.removeprefix(METADATA + ".")] = value
    return video, metadata, scene


def _matches(value: Any, condition: Any) -> bool:
    if isinstance(condition, dict):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        ops = {"gte": value >= condition.get("gte", value), "gt": "gt" not in condition or value > condition["gt"],
               "lte": value <= condition.get("lte", value), "lt": "lt" not in condition or value < condition["lt"]}
        return all(ops.values())
    if isinstance(condition, list):
        return any(_matches(value, c) for c in condition)
    if isinstance(condition, (int, float)) and not isinstance(condition, bool) and \
            isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(float(value) - float(condition)) < 1e-9
    return value == condition


def _admitted(rows: list[VideoRow], video: dict[str, Any], metadata: dict[str, Any]) -> list[VideoRow]:
    def fields(r: VideoRow) -> dict[str, Any]:
        return {**r.system_metadata, "id": r.id, "filename": r.filename, "size": r.size}

    return [r for r in rows
            if all(_matches(fields(r).get(k), c) for k, c in video.items())
            and all(_matches(r.user_metadata.get(k), c) for k, c in metadata.items())]


def _options(search_options: List[str], enabled: set[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(o.strip() for item in search_options for o in item.split(",") if o.strip()))
    if not chosen:
        raise ApiError(400, "search_options needs at least one of visual, audio, transcription",
                       code="parameter_not_provided")
    for option in chosen:
        if option in PLANNED_OPTIONS:
            raise ApiError(400, f"search option {option!r} is not available on this server yet; use visual "
                                "or transcription")
        if option not in BUILT_OPTIONS:
            raise ApiError(400, f"unknown search option {option!r}; use visual, audio or transcription")
        # Speech is indexed under either model option (Marengo calls it `audio`).
        if option not in enabled and not (option == "transcription" and enabled & {"audio", "transcription"}):
            raise ApiError(400, f"this index was created without the {option!r} model option")
    return chosen


def _threshold(text: Optional[str]) -> Optional[float]:
    if text is None or not text.strip():
        return None
    if text.strip().lower() in THRESHOLDS:
        return THRESHOLDS[text.strip().lower()]
    try:
        return float(text)
    except ValueError as exc:
        raise ApiError(400, f"threshold must be none, low, medium, high or a number, not {text!r}") from exc


def _asset_constraint(scene_filter: dict[str, Any], admitted: set[str], every_asset: set[str]) -> dict[str, Any]:
    """The search's filter and excluded assets: only admitted assets may be returned. The
    collection holds points of the index's assets only, so naming the others (usually the few
    not ready yet) says the same as naming the admitted ones (the whole library), in less."""
    excluded = every_asset - admitted
    if len(excluded) <= len(admitted):
        return {"filter": scene_filter or None, "exclude_assets": tuple(sorted(excluded))}
    return {"filter": {**scene_filter, "asset_id": sorted(admitted)}}


def _total_results(query: dict[str, Any], by_asset: dict[str, list[VideoRow]],
                   count_scenes: Callable[[Optional[str]], int]) -> Optional[int]:
    """Every result of the search over all its pages, where it can be known without ranking the
    whole index: with no threshold every admitted scene is a result (by clip; an upload of the
    same bytes as another repeats its scenes), and every admitted video (by video, when no scene
    condition can leave one out). `count_scenes(asset_id)`: the admitted scenes (of one asset).
    None: only what was seen can be counted."""
    if query.get("threshold") is not None or query.get("search_options", ["visual"]) != ["visual"]:
        return None
    if query["group_by"] == "video":
        return None if query["scene_filter"] else sum(len(rows) for rows in by_asset.values())
    return count_scenes(None) + sum((len(rows) - 1) * count_scenes(asset_id)
                                    for asset_id, rows in by_asset.items() if len(rows) > 1)


def _clip(hit: SearchHit, video: VideoRow, rank: int, with_metadata: bool, request: Request,
          settings: ServerSettings) -> SearchClip:
    return SearchClip(start=hit.start_s, end=hit.end_s, rank=rank, score=hit.score, video_id=video.id,
                      thumbnail_url=thumbnail_url(request, settings, hit.thumbnail_uri),
                      transcription=hit.transcript or None,
                      user_metadata=video.user_metadata if with_metadata else None)


def execute(query: dict[str, Any], page: int, request: Request, records: Records,
            settings: ServerSettings) -> SearchResults:
    """One page of a search; `query` is what create_search saved, so later pages repeat it."""
    index_id, per_page = query["index_id"], query["page_limit"]
    existing_index(records, index_id)
    ready = records.videos(index_id, status=READY)
    pool = SearchPool(index_id=index_id, total_count=len(ready),
                      total_duration=sum(v.system_metadata.get("duration") or 0.0 for v in ready))
    admitted = _admitted(ready, query["video_filter"], query["metadata_filter"])
    by_asset: dict[str, list[VideoRow]] = defaultdict(list)
    for row in admitted:
        by_asset[row.asset_id].append(row)
    empty = SearchResults(data=[], page_info=SearchPageInfo(limit_per_page=per_page, total_results=0),
                          search_pool=pool)
    if not by_asset:
        return empty
    request_ = SearchRequest(text=query.get("text"), image_path=query.get("image_path"), limit=per_page, page=page,
                             group_by=query["group_by"], group_size=CLIPS_PER_VIDEO, threshold=query.get("threshold"),
                             modalities=tuple(m for option in query.get("search_options", ["visual"])
                                              for m in MODALITIES[option]),
                             transcription_options=tuple(query.get("transcription_options") or ("lexical", "semantic")),
                             **_asset_constraint(query["scene_filter"], set(by_asset), records.asset_ids_ever(index_id)))
    # Imported here: it brings torch and open_clip, which `serve` should not wait for at start.
    from sceneline.pipelines.search import SearchError, request_filter, search as run_search

    store = SceneStore(settings.store_for(index_id))
    try:
        found = run_search(store, request_, offline=settings.offline)
    except SearchError as exc:
        raise ApiError(400, str(exc)) from exc
    with_metadata = query["include_user_metadata"]
    data: list[SearchItem] = []
    first_rank = (page - 1) * per_page + 1
    if found.groups is not None:
        for group in found.groups:
            for video in by_asset[group.asset_id]:  # uploads of the same bytes: one group each
                clips = [_clip(h, video, i + 1, with_metadata, request, settings) for i, h in enumerate(group.clips)]
                data.append(SearchItem(id=video.id, clips=clips, rank=first_rank + len(data), score=group.score,
                                       user_metadata=video.user_metadata if with_metadata else None))
    else:
        for hit in found.hits:
            for video in by_asset[hit.asset_id]:
                clip = _clip(hit, video, first_rank + len(data), with_metadata, request, settings)
                data.append(SearchItem(**clip.model_dump()))
    next_token = records.add_search_page(query, page + 1) if found.has_more else None
    def count_scenes(asset_id: Optional[str]) -> int:
        narrowed = request_ if asset_id is None else request_.model_copy(
            update={"filter": {**(request_.filter or {}), "asset_id": asset_id}})
        return store.count_scenes(where=request_filter(narrowed))

    total = _total_results(query, by_asset, count_scenes)
    seen = (page - 1) * per_page + len(data)
    info = SearchPageInfo(limit_per_page=per_page, total_results=seen if total is None else max(total, seen),
                          next_page_token=next_token)
    return SearchResults(data=data, page_info=info, search_pool=pool)


def _query_image(settings: ServerSettings, media_type: Optional[str], file: Optional[UploadFile],
                 url: Optional[str]) -> Optional[str]:
    if file is None and not url:
        if media_type:
            raise ApiError(400, "query_media_type is set but no query_media_file or query_media_url came",
                           code="parameter_not_provided")
        return None
    if file is not None and url:
        raise ApiError(400, "give one of query_media_file and query_media_url, not both")
    if media_type not in (None, "image"):
        raise ApiError(400, f"query_media_type {media_type!r} is not supported; use image")
    folder = settings.home / "queries" / uuid.uuid4().hex
    stored = (store_stream(file.file, folder, "query", MAX_QUERY_IMAGE_BYTES) if file is not None
              else fetch_url(url, folder, MAX_QUERY_IMAGE_BYTES))
    return str(stored.path)


async def _search_fields(request: Request) -> None:
    await only_fields(request, SEARCH_FIELDS)


@router.post("/search", response_model=SearchResults, response_model_exclude_none=True,
             dependencies=[Depends(_search_fields)])
def create_search(request: Request, index_id: str = Form(...), search_options: List[str] = Form(...),
                  query_text: Optional[str] = Form(None), query_media_type: Optional[str] = Form(None),
                  query_media_url: Optional[str] = Form(None), query_media_file: Optional[UploadFile] = File(None),
                  transcription_options: Optional[List[str]] = Form(None), group_by: str = Form("clip"),
                  operator: str = Form("or"), page_limit: int = Form(10, ge=1, le=50),
                  filter: Optional[str] = Form(None), include_user_metadata: bool = Form(False),
                  threshold: Optional[str] = Form(None), records: Records = Depends(get_records),
                  settings: ServerSettings = Depends(get_settings)) -> SearchResults:
    options = _options(search_options, existing_index(records, index_id).model_options())
    if group_by not in ("clip", "video"):
        raise ApiError(400, f"group_by must be clip or video, not {group_by!r}")
    if operator not in ("or", "and"):
        raise ApiError(400, f"operator must be or or and, not {operator!r}")
    for option in transcription_options or []:
        if option not in ("lexical", "semantic"):
            raise ApiError(400, f"transcription_options: {option!r} is not lexical or semantic")
    if query_text is not None and not query_text.strip():
        query_text = None
    try:
        video, metadata, scene = _split_filter(parse_json_object(filter, "filter") or {})
    except FilterError as exc:
        raise ApiError(400, str(exc)) from exc
    image_path = _query_image(settings, query_media_type, query_media_file, query_media_url)
    if query_text is None and image_path is None:
        raise ApiError(400, "give query_text, or an image by query_media_file or query_media_url",
                       code="parameter_not_provided")
    if query_text is None and options == ("transcription",):
        raise ApiError(400, "a transcription search matches words: give query_text", code="parameter_not_provided")
    query = {"index_id": index_id, "text": query_text, "image_path": image_path, "group_by": group_by,
             "page_limit": page_limit, "video_filter": video, "metadata_filter": metadata, "scene_filter": scene,
             "threshold": _threshold(threshold), "include_user_metadata": include_user_metadata,
             # An image query has no words for the transcription to match: it searches what is seen.
             "search_options": [o for o in options if o != "transcription" or query_text is not None],
             "transcription_options": list(transcription_options or [])}
    return execute(query, 1, request, records, settings)


@router.get("/search/{page_token}", response_model=SearchResults, response_model_exclude_none=True)
def retrieve_search_page(page_token: str, request: Request, include_user_metadata: Optional[bool] = Query(None),
                         records: Records = Depends(get_records),
                         settings: ServerSettings = Depends(get_settings)) -> SearchResults:
    saved = records.search_page(page_token)
    if saved is None:
        raise ApiError(404, f"no search page {page_token!r} (tokens last as long as the server's records)",
                       code="token_invalid")
    query, page = saved
    if include_user_metadata is not None:
        query["include_user_metadata"] = include_user_metadata
    return execute(query, page, request, records, settings)
