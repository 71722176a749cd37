"""Generation about a whole video, grounded in what the index holds.

The context is the index's own record of the video: each scene's times, description, tags and
visible text, the words spoken with their times, and a few keyframes. A video whose context does
not fit the token budget is answered by map-reduce: each window of consecutive scenes is
summarised into notes for the task, and the notes (reduced again if they are still too long)
ground the final answer, so the prompt stays bounded for any length. Times the model returns
for chapters and highlights snap to scene boundaries inside the range asked about; JSON answers
are validated against the requested schema and asked again once. Answers at temperature 0 are
cached by (video, request).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from sceneline.schemas.settings import AnalyzerSettings
from sceneline.transforms.models.generation import DEFAULT_ANALYZER_CONCURRENCY, Generation, Generator, Message

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # a rough, safe-side estimate for English prose and numbers
DEFAULT_CONTEXT_TOKENS: int = AnalyzerSettings.default("context_tokens")  # per prompt: one window's context
DEFAULT_MAX_TOKENS = 1024
DEFAULT_TEMPERATURE = 0.2  # TwelveLabs' default
DEFAULT_KEYFRAMES: int = AnalyzerSettings.default("keyframes")  # images sent with a prompt (endpoints)
DEFAULT_CACHE_NAME = "analysis-cache.sqlite"
NOTES_MAX_TOKENS = 400  # per window in the map step

SYSTEM_PROMPT = (
    "You answer questions about one video. You cannot watch it; instead you get the video index's "
    "record of it: scenes with their start and end times in seconds, what each shows, text visible "
    "on screen, and the words spoken with their times. Base every statement on that record, and "
    "give times in seconds from the start of the video.")


class VideoNotFoundError(LookupError):
    """No indexed video by that id or path."""


class AnalysisRequestError(ValueError):
    """A request that cannot be answered as asked (bad range, bad schema, ...)."""


class InvalidAnswerError(RuntimeError):
    """The model's answer did not fit the requested JSON schema, on the second try too."""


# ---- what the index knows about a video --------------------------------------------------------
@dataclass(frozen=True)
class Utterance:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class SceneRecord:
    index: int
    start_s: float
    end_s: float
    description: str | None = None
    tags: tuple[str, ...] = ()
    visible_text: str | None = None
    thumbnail: str | None = None
    said: tuple[Utterance, ...] = ()

    def render(self) -> str:
        lines = [f"[{self.start_s:.1f}s-{self.end_s:.1f}s] scene {self.index}"]
        if self.description:
            lines.append(f"  shows: {self.description}")
        if self.tags:
            lines.append(f"  tags: {', '.join(self.tags)}")
        if self.visible_text:
            lines.append(f"  text on screen: {' '.join(self.visible_text.split())!r}")
        for u in self.said:
            lines.append(f"  said at {u.start_s:.1f}s-{u.end_s:.1f}s: {u.text!r}")
        return "\n".join(lines)


@dataclass(frozen=True)
class VideoRecord:
    asset_id: str
    uri: str
    duration_s: float
    scenes: tuple[SceneRecord, ...]
    version: str = ""  # changes when the video is indexed again (part of cache keys)

    def boundaries(self) -> list[float]:
        return sorted({s.start_s for s in self.scenes} | {s.end_s for s in self.scenes})


def _utterances(raw: Any) -> list[Utterance]:
    """Speech segments in the shapes a transcript may take: [{start, end, text}], or a string."""
    if not raw:
        return []
    if isinstance(raw, str):
        return []  # a scene's text without times: used as is by the caller
    found = []
    for seg in raw if isinstance(raw, list) else []:
        if not isinstance(seg, dict) or not str(seg.get("text", "")).strip():
            continue
        start = seg.get("start_s", seg.get("start", 0.0))
        end = seg.get("end_s", seg.get("end", start))
        found.append(Utterance(float(start), float(end), str(seg["text"]).strip()))
    return found


def transcript_of(store: Any, asset_id: str, scenes: Sequence[dict[str, Any]]) -> list[Utterance]:
    """The words spoken in a video with their times; [] when the index holds no speech.

    The speech stage (issue 13) adds `SceneStore.speech_of(asset_id)` and a `transcript` field
    per scene; either is read when present."""
    speech_of = getattr(store, "speech_of", None)
    if callable(speech_of):
        found = _utterances([s if isinstance(s, dict) else getattr(s, "model_dump", lambda: {})()
                             for s in (speech_of(asset_id) or [])])
        if found:
            return found
    found = []
    for scene in scenes:
        found += _utterances(scene.get("transcript"))
    return sorted(set(found), key=lambda u: (u.start_s, u.end_s))


def load_video(store: Any, video: str) -> VideoRecord:
    """An indexed video by asset id, or by the path or URI it was indexed from."""
    scenes = store.scenes_of(video)
    asset_id = video
    if not scenes:
        record = _record_by_uri(store, video)
        if record is None:
            raise VideoNotFoundError(f"no indexed video {video!r} in {store.config.describe()}")
        asset_id = record.asset_id
        scenes = store.scenes_of(asset_id)
        if not scenes:
            raise VideoNotFoundError(f"{video!r} is {record.status.value}, with no scenes in the index")
    speech = transcript_of(store, asset_id, scenes)
    starts = [float(p["start_s"]) for p in scenes]
    said: list[list[Utterance]] = [[] for _ in scenes]
    for u in speech:  # each utterance goes with the scene it starts in
        said[max(0, bisect.bisect_right(starts, u.start_s) - 1)].append(u)
    records = [SceneRecord(int(p["scene_index"]), float(p["start_s"]), float(p["end_s"]), p.get("description"),
                           tuple(p.get("tags") or ()), p.get("visible_text"), p.get("thumbnail_uri"), tuple(said[i]))
               for i, p in enumerate(scenes)]
    duration = float(scenes[0].get("duration") or 0.0) or max(r.end_s for r in records)
    version = f"{scenes[0].get('generation') or ''}:{len(scenes)}:{records[-1].end_s}"
    return VideoRecord(asset_id, scenes[0].get("uri", ""), duration, tuple(records), version)


def _record_by_uri(store: Any, video: str):
    import os

    candidates = [video]
    if "://" not in video:
        candidates = [os.path.abspath(video), video, Path(video).resolve().as_uri()]
    for uri in candidates:
        indexed = [r for r in store.list_status(uri=uri) if r.asset_id and r.status.value == "indexed"]
        if indexed:
            return max(indexed, key=lambda r: str(r.updated_at))
    return None


def restrict(video: VideoRecord, start_time: float | None, end_time: float | None) -> tuple[list[SceneRecord], float, float]:
    """The scenes overlapping [start_time, end_time), and the range itself, inside the video."""
    lo = 0.0 if start_time is None else float(start_time)
    hi = video.duration_s if end_time is None else float(end_time)
    if lo < 0 or hi <= lo:
        raise AnalysisRequestError(f"start_time {lo} must be at least 0 and less than end_time {hi}")
    if lo >= video.duration_s:
        raise AnalysisRequestError(f"start_time {lo} is past the end of the video ({video.duration_s:.1f} s)")
    hi = min(hi, video.duration_s)
    scenes = [s for s in video.scenes if s.end_s > lo and s.start_s < hi]
    return scenes, lo, hi


# ---- windows within the token budget -----------------------------------------------------------
def pack_windows(blocks: Sequence[str], budget_chars: int) -> list[list[str]]:
    """Consecutive blocks, as few windows as fit the budget; a block longer than the budget is cut."""
    windows: list[list[str]] = [[]]
    used = 0
    for block in blocks:
        block = block if len(block) <= budget_chars else block[:budget_chars - 3] + "..."
        if windows[-1] and used + len(block) + 1 > budget_chars:
            windows.append([])
            used = 0
        windows[-1].append(block)
        used += len(block) + 1
    return [w for w in windows if w]


# ---- JSON answers ---------------------------------------------------------------------------
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def validation_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """TwelveLabs' schema dialect as standard JSON Schema: its `timestamp` type is a number
    (format seconds) or a string (hh:mm:ss)."""
    if isinstance(schema, dict):
        out = {k: validation_schema(v) for k, v in schema.items()}
        if schema.get("type") == "timestamp":
            out["type"] = "number" if schema.get("format") == "seconds" else "string"
            out.pop("format", None)
        return out
    if isinstance(schema, list):
        return [validation_schema(v) for v in schema]
    return schema


def check_schema(schema: Any) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise AnalysisRequestError("response_format.json_schema must be a JSON object")
    try:
        Draft202012Validator.check_schema(validation_schema(schema))
    except SchemaError as exc:
        raise AnalysisRequestError(f"response_format.json_schema is not a valid JSON schema: {exc.message}") from exc
    return schema


def parse_json_answer(text: str, schema: dict[str, Any]) -> Any:
    """The answer's JSON value, valid against the schema; ValueError says what is wrong."""
    from jsonschema import Draft202012Validator

    body = _FENCE.sub("", (text or "").strip())
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        start = min([i for i in (body.find("{"), body.find("[")) if i >= 0], default=-1)
        end = max(body.rfind("}"), body.rfind("]"))
        try:
            value = json.loads(body[start:end + 1]) if start >= 0 and end > start else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answer is not valid JSON ({exc.msg})") from exc
        if value is None:
            raise ValueError("the answer holds no JSON value")
    errors = sorted(Draft202012Validator(validation_schema(schema)).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(map(str, errors[0].absolute_path)) or "the answer"
        raise ValueError(f"{where}: {errors[0].message}")
    return value


# ---- chapters and highlights ---------------------------------------------------------------
CHAPTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"chapters": {"type": "array", "items": {
        "type": "object",
        "properties": {"start_sec": {"type": "number"}, "end_sec": {"type": "number"},
                       "chapter_title": {"type": "string"}, "chapter_summary": {"type": "string"}},
        "required": ["start_sec", "end_sec", "chapter_title", "chapter_summary"]}}},
    "required": ["chapters"],
}
HIGHLIGHT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"highlights": {"type": "array", "items": {
        "type": "object",
        "properties": {"start_sec": {"type": "number"}, "end_sec": {"type": "number"},
                       "highlight": {"type": "string"}, "highlight_summary": {"type": "string"}},
        "required": ["start_sec", "end_sec", "highlight"]}}},
    "required": ["highlights"],
}
GIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "topics": {"type": "array", "items": {"type": "string"}},
                   "hashtags": {"type": "array", "items": {"type": "string"}}},
    "required": ["title", "topics", "hashtags"],
}
SUMMARY_TYPES = ("summary", "chapter", "highlight")
GIST_TYPES = ("title", "topic", "hashtag")


def _nearest(points: Sequence[float], value: float) -> float:
    return min(points, key=lambda p: (abs(p - value), p))


def snap_spans(spans: Sequence[dict[str, Any]], boundaries: Sequence[float], lo: float, hi: float) -> list[dict[str, Any]]:
    """Spans with start_sec/end_sec moved to the nearest boundary inside [lo, hi], in order,
    without overlaps; spans that collapse to nothing are dropped."""
    points = sorted({lo, hi} | {b for b in boundaries if lo <= b <= hi})
    snapped = []
    for span in spans:
        try:
            start = float(span["start_sec"])
            end = float(span["end_sec"])
        except (KeyError, TypeError, ValueError):
            continue
        start = _nearest(points, min(max(start, lo), hi))
        end = _nearest(points, min(max(end, lo), hi))
        if end <= start:
            later = [p for p in points if p > start]
            if not later:
                continue
            end = later[0]
        snapped.append({**span, "start_sec": start, "end_sec": end})
    snapped.sort(key=lambda s: (s["start_sec"], s["end_sec"]))
    result: list[dict[str, Any]] = []
    for span in snapped:
        if result and span["start_sec"] < result[-1]["end_sec"]:
            span = {**span, "start_sec": result[-1]["end_sec"]}
            if span["end_sec"] <= span["start_sec"]:
                continue
        result.append(span)
    return result


# ---- the cache ---------------------------------------------------------------------------------
class AnswerCache:
    """Answers by key in a small SQLite file beside the index."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT, created REAL)")
        self._db.commit()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (key, json.dumps(value), time.time()))
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def cache_path_for(store_config: Any) -> Path:
    """Beside a local index folder; in .sceneline/ for a Qdrant server."""
    if getattr(store_config, "path", None) and store_config.path != ":memory:":
        return Path(store_config.path).resolve().parent / DEFAULT_CACHE_NAME
    return Path(".sceneline") / DEFAULT_CACHE_NAME


# ---- the analyzer ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisSettings:
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    keyframes: int = DEFAULT_KEYFRAMES
    concurrency: int = DEFAULT_ANALYZER_CONCURRENCY  # windows summarised at once in the map step

    def __post_init__(self) -> None:
        if self.context_tokens < 256:
            raise ValueError("the analyzer's context budget must be at least 256 tokens")


@dataclass(frozen=True)
class AnalysisRequest:
    prompt: str
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    json_schema: dict[str, Any] | None = None
    start_time: float | None = None
    end_time: float | None = None
    history: tuple[tuple[str, str], ...] = ()  # earlier (question, answer) turns of a conversation

    def __post_init__(self) -> None:
        if not self.prompt or not self.prompt.strip():
            raise AnalysisRequestError("the prompt is empty")
        if not 0 <= self.temperature <= 2:
            raise AnalysisRequestError("temperature must be between 0 and 2")
        if self.max_tokens < 1:
            raise AnalysisRequestError("max_tokens must be at least 1")
        if self.json_schema is not None:
            check_schema(self.json_schema)


@dataclass
class AnalysisResult:
    text: str
    finish_reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0
    windows: int = 1  # windows the context was split into (1: no map-reduce)
    cached: bool = False
    value: Any = None  # the parsed JSON answer, when a schema was asked for
    generation_id: str = ""

    def to_cache(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "cached"}


@dataclass
class _Prepared:
    video: VideoRecord
    lo: float
    hi: float
    messages: list[Message]
    windows: int
    usage: list[Generation] = field(default_factory=list)


class Analyzer:
    def __init__(self, store: Any, generator: Generator, settings: AnalysisSettings = AnalysisSettings(),
                 cache: AnswerCache | None = None):
        self.store = store
        self.generator = generator
        self.settings = settings
        self.cache = cache

    # -- grounding --
    def _keyframes(self, scenes: Sequence[SceneRecord]) -> tuple[bytes, ...]:
        if self.settings.keyframes <= 0 or not scenes:
            return ()
        step = max(1, len(scenes) // self.settings.keyframes)
        chosen = scenes[::step][: self.settings.keyframes]
        images = []
        for scene in chosen:
            path = Path(scene.thumbnail or "")
            if scene.thumbnail and "://" not in scene.thumbnail and path.is_file():
                images.append(path.read_bytes())
        return tuple(images)

    def _map(self, request: AnalysisRequest, windows: list[list[str]], video: VideoRecord,
             usage: list[Generation]) -> list[str]:
        def notes(i: int) -> str:
            part = "\n".join(windows[i])
            prompt = (f"This is part {i + 1} of {len(windows)} of the video's record.\n\n{part}\n\n"
                      f"Write brief notes, with times in seconds, of everything in this part that helps "
                      f"with this task: {request.prompt}\nIf nothing here is relevant, give the part's "
                      "main events in one line.")
            answer = self.generator.generate([Message("system", SYSTEM_PROMPT), Message("user", prompt)],
                                             temperature=0.0, max_tokens=NOTES_MAX_TOKENS)
            usage.append(answer)
            first = windows[i][0].split("]")[0].lstrip("[")
            return f"Notes on part {i + 1} ({first} ...):\n{answer.text.strip()}"

        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(windows)),
                                thread_name_prefix="sceneline-analyze") as pool:
            return list(pool.map(notes, range(len(windows))))

    def prepare(self, video_ref: str, request: AnalysisRequest, *, extra: str = "") -> _Prepared:
        """The conversation to send: grounded context (reduced by map-reduce when too long) and the task."""
        video = load_video(self.store, video_ref)
        scenes, lo, hi = restrict(video, request.start_time, request.end_time)
        budget = self.settings.context_tokens * CHARS_PER_TOKEN
        blocks = [s.render() for s in scenes]
        windows = pack_windows(blocks, budget)
        usage: list[Generation] = []
        n_windows = len(windows)
        while len(windows) > 1:  # map: notes per window; reduce the notes again if still too long
            windows = pack_windows(self._map(request, windows, video, usage), budget)
        context = "\n".join(windows[0]) if windows else "(no scenes in this range)"
        header = (f"Video {video.uri or video.asset_id}, {video.duration_s:.1f} s long; "
                  f"the part asked about runs from {lo:.1f}s to {hi:.1f}s.")
        body = f"{header}\n\n{context}"
        if n_windows > 1:
            body = f"{header}\n\nNotes taken over the whole range, in order:\n\n{context}"
        task = request.prompt.strip() + (f"\n\n{extra}" if extra else "")
        if request.json_schema is not None:
            task += ("\n\nAnswer with only JSON that fits this JSON schema:\n" + json.dumps(request.json_schema))
        messages = [Message("system", SYSTEM_PROMPT),
                    Message("user", f"The video's record:\n\n{body}", self._keyframes(scenes))]
        messages.append(Message("assistant", "I have read the record of the video."))
        for question, answer in request.history:
            messages += [Message("user", question), Message("assistant", answer)]
        messages.append(Message("user", task))
        return _Prepared(video, lo, hi, messages, n_windows, usage)

    def _cache_key(self, kind: str, video: VideoRecord, request: AnalysisRequest, extra: str) -> str | None:
        if self.cache is None or request.temperature != 0:
            return None
        identity = {"kind": kind, "asset": video.asset_id, "version": video.version,
                    "analyzer": self.generator.spec, "request": asdict(request), "extra": extra,
                    "settings": asdict(self.settings)}
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()

    def _cached(self, key: str | None) -> AnalysisResult | None:
        hit = self.cache.get(key) if key and self.cache else None
        return AnalysisResult(**hit, cached=True) if hit else None

    # -- answers --
    def analyze(self, video_ref: str, request: AnalysisRequest, *, kind: str = "analyze", extra: str = "") -> AnalysisResult:
        video = load_video(self.store, video_ref)
        key = self._cache_key(kind, video, request, extra)
        if (hit := self._cached(key)) is not None:
            return hit
        prepared = self.prepare(video.asset_id, request, extra=extra)
        messages = list(prepared.messages)
        answer = self.generator.generate(messages, temperature=request.temperature, max_tokens=request.max_tokens,
                                         json_schema=request.json_schema)
        prepared.usage.append(answer)
        value = None
        if request.json_schema is not None:
            try:
                value = parse_json_answer(answer.text, request.json_schema)
            except ValueError as first:
                log.warning("analyzer answer does not fit the schema (%s); asking once more", first)
                messages += [Message("assistant", answer.text),
                             Message("user", f"That answer cannot be used: {first}. Reply with only JSON that "
                                             f"fits the schema:\n{json.dumps(request.json_schema)}")]
                answer = self.generator.generate(messages, temperature=request.temperature,
                                                 max_tokens=request.max_tokens, json_schema=request.json_schema)
                prepared.usage.append(answer)
                try:
                    value = parse_json_answer(answer.text, request.json_schema)
                except ValueError as second:
                    raise InvalidAnswerError(f"the analyzer's answer did not fit the requested schema twice: "
                                             f"{second}") from second
        result = AnalysisResult(
            text=answer.text, finish_reason=answer.finish_reason,
            input_tokens=sum(g.input_tokens or 0 for g in prepared.usage),
            output_tokens=sum(g.output_tokens or 0 for g in prepared.usage),
            windows=prepared.windows, value=value, generation_id=_new_id())
        if key:
            self.cache.put(key, result.to_cache())
        return result

    def analyze_stream(self, video_ref: str, request: AnalysisRequest) -> Iterator[str]:
        """The answer's text as it is generated (a cached answer comes as one piece)."""
        video = load_video(self.store, video_ref)
        key = self._cache_key("analyze", video, request, "")
        if (hit := self._cached(key)) is not None:
            yield hit.text
            return
        prepared = self.prepare(video.asset_id, request)
        pieces = []
        for piece in self.generator.stream(prepared.messages, temperature=request.temperature,
                                           max_tokens=request.max_tokens):
            pieces.append(piece)
            yield piece
        if key:
            self.cache.put(key, AnalysisResult("".join(pieces), windows=prepared.windows,
                                               generation_id=_new_id()).to_cache())

    def summarize(self, video_ref: str, kind: str, *, prompt: str | None = None,
                  temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = DEFAULT_MAX_TOKENS,
                  start_time: float | None = None, end_time: float | None = None) -> dict[str, Any]:
        """TwelveLabs' summarize: a summary, chapters or highlights (times on scene boundaries)."""
        if kind not in SUMMARY_TYPES:
            raise AnalysisRequestError(f"summary type must be one of {', '.join(SUMMARY_TYPES)}, not {kind!r}")
        extra = f"Also follow these instructions: {prompt}" if prompt else ""
        common = dict(temperature=temperature, max_tokens=max_tokens, start_time=start_time, end_time=end_time)
        if kind == "summary":
            result = self.analyze(video_ref, AnalysisRequest(
                "Summarize the video: what happens, what is shown, said and written, in a few paragraphs.",
                **common), kind="summary", extra=extra)
            return {"summarize_type": "summary", "id": result.generation_id, "summary": result.text,
                    "usage": _usage(result), "cached": result.cached}
        video = load_video(self.store, video_ref)
        _, lo, hi = restrict(video, start_time, end_time)
        bounds = [b for b in video.boundaries() if lo <= b <= hi]
        if kind == "chapter":
            task = ("Divide the video into chapters: consecutive parts about one subject each. A chapter "
                    f"starts and ends on scene boundaries; {_boundary_list(bounds, self.settings)}. Give each "
                    "chapter a short title and a summary.")
            schema, field_name = CHAPTER_SCHEMA, "chapters"
        else:
            task = ("Pick the highlights of the video: its most notable moments, each a span of whole "
                    f"scenes; {_boundary_list(bounds, self.settings)}. Name each highlight and say why it "
                    "matters.")
            schema, field_name = HIGHLIGHT_SCHEMA, "highlights"
        result = self.analyze(video_ref, AnalysisRequest(task, json_schema=schema, **common), kind=kind, extra=extra)
        spans = snap_spans(result.value[field_name], video.boundaries(), lo, hi)
        if kind == "chapter":
            spans = [{**s, "chapter_number": i} for i, s in enumerate(spans)]
        return {"summarize_type": kind, "id": result.generation_id, field_name: spans, "usage": _usage(result),
                "cached": result.cached}

    def gist(self, video_ref: str, types: Sequence[str], *, temperature: float = 0.0) -> dict[str, Any]:
        unknown = [t for t in types if t not in GIST_TYPES]
        if unknown or not types:
            raise AnalysisRequestError(f"gist types must be among {', '.join(GIST_TYPES)}; got {', '.join(types) or 'none'}")
        result = self.analyze(video_ref, AnalysisRequest(
            "Give the video a title, its main topics (a few words each), and hashtags without the # sign.",
            temperature=temperature, max_tokens=512, json_schema=GIST_SCHEMA), kind="gist")
        value = result.value
        out: dict[str, Any] = {"id": result.generation_id, "usage": _usage(result), "cached": result.cached}
        if "title" in types:
            out["title"] = value["title"]
        if "topic" in types:
            out["topics"] = value["topics"]
        if "hashtag" in types:
            out["hashtags"] = [h.lstrip("#") for h in value["hashtags"]]
        return out


def _boundary_list(bounds: Sequence[float], settings: AnalysisSettings) -> str:
    """The scene boundaries for the prompt; on a long video, the prompt stays bounded and the
    times the model gives are snapped afterwards anyway."""
    listed = ", ".join(f"{b:.1f}" for b in bounds)
    if len(listed) <= settings.context_tokens * CHARS_PER_TOKEN // 4:
        return f"the scene boundaries, in seconds, are: {listed}"
    return "times are moved to the nearest scene boundary (the scenes' times are in the record)"


def _usage(result: AnalysisResult) -> dict[str, int]:
    return {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens}


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())
