"""Search filters in TwelveLabs' syntax, translated to a Qdrant filter.

    {"duration": {"gte": 60}}            a range (gte, gt, lte, lt) on a number
    {"filename": "a.mp4"}                an exact value
    {"width": 1920}                      numbers match exactly too
    {"id": ["ID1", "ID2"]}               any of a list (asset ids here)
    {"category": "news"}                 any other field is the asset's user metadata
    {"metadata": {"category": "news"}}   the same, spelled out

Fields combine with AND. Besides TwelveLabs' own fields (id, duration, filename, width, height,
fps, size), sceneline's scene fields can be filtered on: media_type, tags, content_category (the
captioner's preset), codec, container, start_s, end_s, scene_index. A filter that cannot mean
anything fails with a FilterError that says why, before any search runs.
"""

from __future__ import annotations

import json
from typing import Any

from qdrant_client import models

from sceneline.schemas.failures import UserError
from sceneline.schemas.payload import FILTER_FIELDS

# Filter names -> payload keys, from the payload declaration (schemas/payload.py).
FIELDS: dict[str, str] = FILTER_FIELDS
METADATA = "metadata"
RANGE_OPERATORS = ("gte", "gt", "lte", "lt")


class FilterError(UserError, ValueError):
    """A filter that cannot be applied; the message says which field and why."""


def parse_filter_text(text: str | None) -> dict[str, Any] | None:
    """The --filter argument: a JSON object, or nothing."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(f"--filter is not valid JSON ({exc.msg} at character {exc.pos}): {text}") from exc
    if not isinstance(value, dict):
        raise FilterError('--filter must be a JSON object, e.g. {"duration": {"gte": 60}}')
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _exact(key: str, value: Any) -> models.Condition:
    if _is_number(value):
        # One-point range: matches 60 against a stored 60.0 too (an exact match would not).
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    if isinstance(value, (str, bool)):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    raise FilterError(f"filter on {key!r}: {value!r} is not a string, number or boolean")


def _any_of(name: str, key: str, values: list[Any]) -> models.Condition:
    if not values:
        raise FilterError(f"filter on {name!r}: the list is empty, so nothing could match")
    if all(isinstance(v, str) for v in values):
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))
    return models.Filter(should=[_exact(key, v) for v in values])


def _range(name: str, key: str, spec: dict[str, Any]) -> models.Condition:
    unknown = sorted(set(spec) - set(RANGE_OPERATORS))
    if unknown:
        raise FilterError(f"filter on {name!r}: unknown operator(s) {', '.join(unknown)}; use "
                          f"{', '.join(RANGE_OPERATORS)}")
    if not spec:
        raise FilterError(f"filter on {name!r}: an empty range; give gte, gt, lte or lt")
    for op, bound in spec.items():
        if not _is_number(bound):
            raise FilterError(f"filter on {name!r}: {op} needs a number, not {bound!r}")
    return models.FieldCondition(key=key, range=models.Range(**spec))


def _condition(name: str, key: str, value: Any) -> models.Condition:
    if isinstance(value, dict):
        return _range(name, key, value)
    if isinstance(value, list):
        return _any_of(name, key, value)
    if value is None:
        raise FilterError(f"filter on {name!r}: null matches nothing; leave the field out")
    return _exact(key, value)


def _payload_key(name: str) -> str:
    if not name or not name.strip():
        raise FilterError("a filter field needs a name")
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith(METADATA + "."):
        return name
    return f"{METADATA}.{name}"  # TwelveLabs: any other field is user metadata


def translate_filter(spec: dict[str, Any] | None) -> models.Filter | None:
    """A TwelveLabs-style filter as a Qdrant filter (None for no filter)."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise FilterError("a filter is a JSON object of field: condition")
    must: list[models.Condition] = []
    for name, value in spec.items():
        if name == METADATA:
            if not isinstance(value, dict) or not value:
                raise FilterError('filter "metadata" must be an object of user metadata fields')
            must += [_condition(f"{METADATA}.{k}", f"{METADATA}.{k}", v) for k, v in value.items()]
            continue
        must.append(_condition(name, _payload_key(name), value))
    return models.Filter(must=must)
