"""Filters on asset fields, resolved into asset ids (the split layout, schemas/qdrant_layout.py).

In the split layout a scene point carries `asset_id` and its own fields; the asset's fields
(filename, duration, user metadata ...) are stored once, on the asset's media point. A search
filter may still name them. Each clause's conditions on asset fields are answered on the media
collection, and replaced by a condition on `asset_id`:

    must     [a1, a2, s]  ->  [asset_id in assets(a1 AND a2), s]
    should   [a1, a2, s]  ->  [asset_id in assets(a1 OR a2), s]
    must_not [a1, a2, s]  ->  [asset_id in assets(a1 OR a2), s]

`assets(...)` names the matching assets or, when more than half the library matches, the assets
that do not (`must_not`), so the list is never longer than half the media collection. Every
scene's media point is written before the scene and deleted after it, so "not among the
others" means "among the matching".
"""

from __future__ import annotations

from typing import Callable

from qdrant_client import models

from sceneline.schemas.payload import ASSET_ONLY_FIELDS

# An asset id no asset has (ids are UUIDs or hex digests): `asset_id in [NO_ASSET]` matches nothing.
NO_ASSET = ""

# Asset ids matching a filter on the media collection, or (the second value True) those not matching.
AssetLookup = Callable[[models.Filter], tuple[list[str], bool]]


def names_asset_field(condition: models.Condition) -> bool:
    """Whether a condition is about asset fields only (and so can be answered per asset)."""
    if isinstance(condition, models.FieldCondition):
        return condition.key.split(".", 1)[0] in ASSET_ONLY_FIELDS
    if isinstance(condition, models.IsEmptyCondition):
        return condition.is_empty.key.split(".", 1)[0] in ASSET_ONLY_FIELDS
    if isinstance(condition, models.IsNullCondition):
        return condition.is_null.key.split(".", 1)[0] in ASSET_ONLY_FIELDS
    if isinstance(condition, models.Filter):
        parts = _parts(condition)
        return bool(parts) and all(names_asset_field(c) for c in parts)
    return False


def names_any_asset_field(flt: models.Filter | None) -> bool:
    if flt is None:
        return False
    return any(names_asset_field(c) or (isinstance(c, models.Filter) and names_any_asset_field(c))
               for c in _parts(flt))


def resolve_asset_conditions(flt: models.Filter | None, lookup: AssetLookup) -> models.Filter | None:
    """`flt` with its conditions on asset fields replaced by conditions on `asset_id`."""
    if flt is None or not names_any_asset_field(flt):
        return flt
    return models.Filter(
        must=_clause(flt.must, lambda found: models.Filter(must=found), lookup),
        should=_clause(flt.should, lambda found: models.Filter(should=found), lookup),
        must_not=_clause(flt.must_not, lambda found: models.Filter(should=found), lookup),
        min_should=models.MinShould(conditions=[_one(c, lookup) for c in _listed(flt.min_should.conditions)],
                                    min_count=flt.min_should.min_count) if flt.min_should else None)


def _clause(conditions, combine: Callable[[list[models.Condition]], models.Filter],
            lookup: AssetLookup) -> list[models.Condition] | None:
    listed = _listed(conditions)
    if not listed:
        return None
    about_assets = [c for c in listed if names_asset_field(c)]
    rest = [resolve_asset_conditions(c, lookup) if isinstance(c, models.Filter) else c
            for c in listed if not names_asset_field(c)]
    if about_assets:
        rest.append(_asset_condition(combine(about_assets), lookup))
    return rest


def _one(condition: models.Condition, lookup: AssetLookup) -> models.Condition:
    if names_asset_field(condition):
        return _asset_condition(models.Filter(must=[condition]), lookup)
    return resolve_asset_conditions(condition, lookup) if isinstance(condition, models.Filter) else condition


def _asset_condition(asset_filter: models.Filter, lookup: AssetLookup) -> models.Condition:
    ids, complement = lookup(asset_filter)
    listed = models.FieldCondition(key="asset_id", match=models.MatchAny(any=ids or [NO_ASSET]))
    return models.Filter(must_not=[listed]) if complement else listed


def _parts(flt: models.Filter) -> list[models.Condition]:
    """Every condition of a filter's clauses, one level down."""
    return [*_listed(flt.must), *_listed(flt.should), *_listed(flt.must_not),
            *(_listed(flt.min_should.conditions) if flt.min_should else [])]


def _listed(conditions) -> list[models.Condition]:
    if conditions is None:
        return []
    return list(conditions) if isinstance(conditions, list) else [conditions]
