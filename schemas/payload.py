"""The scene payload, declared once: what a scene's hit reads back from Qdrant.

The payload dicts a scene is written with, the payload indexes the collections get
(schemas/qdrant_layout.py), the field names a search filter may use (pipelines/filters.py)
and the search hit read back (transforms/store/scene_store.py) all derive from `ScenePayload`
and its asset part, `AssetPayload`.
A field's `index` is its Qdrant payload index kind (transforms/store/backend.py); `filter` lists the names a search filter
knows it by (TwelveLabs' own, such as `id` and `size`, beside sceneline's).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sceneline.schemas.scenes import AnalyzedAsset
from sceneline.schemas.search import SearchHit
from sceneline.schemas.understanding import Enrichment


def _field(default: Any = None, *, index: str | None = None, filter: tuple[str, ...] = (),
           description: str | None = None) -> Any:
    return Field(default, description=description, json_schema_extra={"index": index, "filter": list(filter)})


class AssetPayload(BaseModel):
    """What a point knows of its asset. Fields sit at the top level (not under the asset), so
    filters read like TwelveLabs' ({"duration": ...}).

    Where they are stored depends on the scenes collection's layout (schemas/qdrant_layout.py):
    in the split layout (the default) once per asset, in the media collection, and a scene or
    speech point carries only `asset_id` of them; an index made before it carries them on every
    point. Either way a hit reads them back as one payload."""

    # Points written by other versions may carry fields this one does not know: keep them.
    model_config = ConfigDict(extra="allow")

    asset_id: str = _field(..., index="keyword", filter=("id", "asset_id"))
    uri: str = _field(..., index="keyword", filter=("uri",))
    filename: str = _field("", index="keyword", filter=("filename",))
    media_type: str = _field("", index="keyword", filter=("media_type",))
    scene_count: int | None = _field()
    duration: float | None = _field(index="float", filter=("duration",))
    width: int | None = _field(index="integer", filter=("width",))
    height: int | None = _field(index="integer", filter=("height",))
    fps: float | None = _field(index="float", filter=("fps",))
    codec: str | None = _field(filter=("codec",))
    container: str | None = _field(filter=("container",))
    size_bytes: int | None = _field(index="integer", filter=("size", "size_bytes"))
    generation: str | None = _field()
    metadata: dict[str, Any] = _field({})  # the user's own fields, filtered as metadata.NAME
    models: dict[str, str] = _field({})

    @classmethod
    def of_asset(cls, analyzed: AnalyzedAsset) -> "AssetPayload":
        return cls(**cls.asset_fields(analyzed))

    @staticmethod
    def asset_fields(analyzed: AnalyzedAsset) -> dict[str, Any]:
        a, p = analyzed.asset, analyzed.probe
        return dict(
            asset_id=a.asset_id, uri=a.uri, filename=a.filename, media_type=a.media_type.value,
            scene_count=len(analyzed.scenes), duration=p.duration_s, width=p.display_width, height=p.display_height,
            fps=p.avg_fps, codec=p.codec, container=p.container, size_bytes=a.size_bytes, generation=a.generation,
            metadata=a.user_metadata, models=analyzed.models)

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ScenePayload(AssetPayload, Enrichment):
    """One scene's payload: its asset's fields, its own, and the model stages' (Enrichment)."""

    model_config = ConfigDict(extra="allow")  # as AssetPayload's (Enrichment's forbids)

    scene_index: int = _field(..., index="integer", filter=("scene_index",))
    start_s: float = _field(..., index="float", filter=("start_s",))
    end_s: float = _field(..., index="float", filter=("end_s",))
    start_frame: int | None = _field()
    end_frame: int | None = _field()
    transition_in: str | None = _field()
    keyframe_s: list[float] = _field([])
    thumbnail_uri: str | None = _field()
    # Enrichment fields a search filters on.
    tags: list[str] | None = _field(index="category", filter=("tags",))
    content_category: str | None = _field(index="category", filter=("content_category",))

    @classmethod
    def of(cls, analyzed: AnalyzedAsset, scene_index: int) -> "ScenePayload":
        return cls(**cls.asset_fields(analyzed), **cls.scene_fields(analyzed, scene_index))

    @staticmethod
    def scene_fields(analyzed: AnalyzedAsset, scene_index: int) -> dict[str, Any]:
        """A scene's own fields, as stored (JSON values; enrichment only where a stage set it).
        The split layout writes these as they are, with `asset_id`: they come from typed
        models already, and checking them again would cost more than storing them."""
        s = analyzed.scenes[scene_index]
        return dict(
            scene_index=s.index, start_s=s.start_s, end_s=s.end_s,
            start_frame=s.start_frame, end_frame=s.end_frame, transition_in=s.transition_in.value,
            keyframe_s=[k.time_s for k in s.keyframes], thumbnail_uri=s.thumbnail_uri,
            **s.enrichment.model_dump(mode="json", exclude_none=True))

    def to_payload(self) -> dict[str, Any]:
        """The dict written to Qdrant: every scene field, and the enrichment fields that are set."""
        enrichment = set(Enrichment.model_fields)
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in enrichment or v is not None}

    def hit(self, score: float, payload: dict[str, Any]) -> SearchHit:
        """The search hit of this scene; `payload` is the point's payload as stored."""
        return SearchHit(
            asset_id=self.asset_id, uri=self.uri, filename=self.filename, media_type=self.media_type,
            scene_index=self.scene_index, start_s=self.start_s, end_s=self.end_s, score=score,
            thumbnail_uri=self.thumbnail_uri, payload=payload, description=self.description,
            tags=self.tags or [], visible_text=self.visible_text, text_regions=self.text_regions or [],
            transcript=self.transcript)


def _extra(name: str) -> dict[str, Any]:
    return ScenePayload.model_fields[name].json_schema_extra or {}


# Payload fields with an index (keyword: exact match; float/integer: ranges), over the whole payload:
# what a scene point of the older layout, which carries everything, is indexed on.
PAYLOAD_INDEXES: dict[str, str] = {
    name: _extra(name)["index"] for name in ScenePayload.model_fields if _extra(name).get("index")}
# Asset fields that the split layout stores once per asset (all but the key that joins them).
ASSET_ONLY_FIELDS: frozenset[str] = frozenset(AssetPayload.model_fields) - {"asset_id"}
# The split layout's indexes: a scene point's own fields, and the media point's.
SCENE_PAYLOAD_INDEXES: dict[str, str] = {k: v for k, v in PAYLOAD_INDEXES.items() if k not in ASSET_ONLY_FIELDS}
MEDIA_PAYLOAD_INDEXES: dict[str, str] = {k: v for k, v in PAYLOAD_INDEXES.items() if k in AssetPayload.model_fields}
# Filter names -> payload keys.
FILTER_FIELDS: dict[str, str] = {
    alias: name for name in ScenePayload.model_fields for alias in _extra(name).get("filter", [])}
