"""The one captioning prompt, its content-category presets, and reading the model's answer.

A category (as Scopix has them) changes what the model is asked to notice: a product photo's
brand and material, a listing photo's room and features, a document's title and kind. The
answer is always the same JSON shape, parsed and validated into a `Caption`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sceneline.schemas.failures import UserError
from sceneline.schemas.understanding import Caption
from sceneline.schemas.settings import UnderstandingSettings

DEFAULT_CATEGORY = UnderstandingSettings.default("category")


@dataclass(frozen=True)
class CategoryPreset:
    name: str
    focus: str  # what to describe
    tag_hint: str  # what the tags should cover


CATEGORIES: dict[str, CategoryPreset] = {p.name: p for p in (
    CategoryPreset("general", "Describe the main subjects, what they are doing, and the setting.",
                   "objects, people, animals, actions, setting, mood"),
    CategoryPreset("product", "This is a product photo. Describe the product: its kind, brand if "
                   "readable, colour, material, and how it is presented.",
                   "product type, brand, colour, material, style, background"),
    CategoryPreset("real_estate", "This is a real-estate photo. Describe the room or exterior, its "
                   "notable features, finishes, light and condition.",
                   "room type, features, materials, style, condition, indoor or outdoor"),
    CategoryPreset("document", "This is a document or page. Say what kind of document it is, its "
                   "title or subject, and the key information it shows.",
                   "document type, subject, organisation, language, layout"),
    CategoryPreset("screenshot", "This is a screenshot. Say which application or website it shows, "
                   "what the screen is for, and its main content.",
                   "application, website, screen type, interface elements, topic"),
    CategoryPreset("construction", "This is a construction-site photo. Describe the work stage, the "
                   "equipment, materials and structures, and any safety gear or hazards.",
                   "activity, equipment, materials, structure, safety, progress stage"),
    CategoryPreset("food", "This shows food or drink. Name the dishes or drinks, ingredients that "
                   "can be seen, and how they are served.",
                   "dish, cuisine, ingredients, drink, serving style, setting"),
    CategoryPreset("fashion", "This shows clothing or accessories. Describe the garments, colours, "
                   "fabrics, fit and style.",
                   "garment, accessory, colour, fabric, pattern, style"),
    CategoryPreset("vehicle", "This shows one or more vehicles. Describe their kind, make if "
                   "readable, colour, condition and surroundings.",
                   "vehicle type, make, colour, condition, road or setting"),
    # Scopix's drawing and design categories (issue 14).
    CategoryPreset("blueprint", "This is a blueprint or engineering drawing. Say what is drawn, the "
                   "views shown (plan, section, elevation), the main dimensions, scale and title block "
                   "details that can be read.",
                   "drawing type, subject, view, scale, discipline, annotations"),
    CategoryPreset("civil_engineering", "This is a civil-engineering plan (roads, drainage, grading, "
                   "utilities or structures). Say what infrastructure it shows, its layout, levels or "
                   "chainages, and the legend or notes that can be read.",
                   "infrastructure type, plan type, utilities, levels, legend, project stage"),
    CategoryPreset("technical_diagram", "This is a technical diagram (a schematic, flowchart, wiring or "
                   "system diagram). Name its kind, its main components and how they connect.",
                   "diagram type, components, connections, domain, labels"),
    CategoryPreset("architectural_design", "This is an architectural design (floor plan, elevation, "
                   "section or rendering). Describe the spaces, their arrangement, sizes that can be "
                   "read, and the style and materials.",
                   "drawing type, rooms, levels, style, materials, dimensions"),
    CategoryPreset("map", "This is a map. Say which area it covers, its kind (road, topographic, "
                   "thematic, site), the places and features it names, and its legend and scale.",
                   "map type, region, places, features, legend, scale"),
    CategoryPreset("artwork", "This is an artwork. Describe its medium, subject, composition, colours "
                   "and style, and the artist or title if they can be read.",
                   "medium, subject, style, period, colours, composition"),
    CategoryPreset("chart", "This is a chart or infographic. Say what it measures, its kind (bar, line, "
                   "pie, table), its axes and units, and the main trend or figures.",
                   "chart type, measure, units, trend, period, source"),
)}

ANSWER_SHAPE = '{"description": "<one or two sentences>", "tags": ["<tag>", "<tag>", ...]}'

# For endpoints that constrain decoding to a JSON schema (OpenAI, vLLM, llama.cpp, Ollama).
ANSWER_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["description", "tags"],
    "additionalProperties": False,
}


class UnknownCategoryError(UserError, ValueError):
    pass


def check_category(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in CATEGORIES:
        raise UnknownCategoryError(
            f"unknown content category {name!r}; choose one of: {', '.join(CATEGORIES)}")
    return key


def caption_prompt(category: str) -> str:
    preset = CATEGORIES[check_category(category)]
    return (
        f"You are indexing this image for search. {preset.focus} "
        "Copy no long passages of text from the image. "
        f"Give 3 to 10 short lowercase tags ({preset.tag_hint}). "
        f"Answer with only a JSON object of this form: {ANSWER_SHAPE}"
    )


def repair_prompt(reason: str) -> str:
    return (f"That answer could not be used ({reason}). Reply with only the JSON object, in this "
            f"form: {ANSWER_SHAPE}")


@dataclass(frozen=True)
class CaptionRequest:
    """One scene's conversation: a JPEG keyframe, and (role, text) turns; the image belongs to
    the first user turn. Backends render it in their own protocol."""

    image: bytes
    turns: tuple[tuple[str, str], ...]

    @classmethod
    def first(cls, image: bytes, category: str) -> "CaptionRequest":
        return cls(image, (("user", caption_prompt(category)),))

    def repaired(self, answer: str, reason: str) -> "CaptionRequest":
        """The same conversation, the unusable answer, and a request to fix it."""
        return CaptionRequest(self.image, self.turns + (("assistant", answer), ("user", repair_prompt(reason))))


class RequestRejected(str):
    """A backend's refusal of one request (an endpoint's 4xx): that scene's failure, not an answer."""


class MalformedAnswer(ValueError):
    """The model's answer is not the requested JSON shape."""


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_answer(text: str) -> Caption:
    """Read a Caption from a model's answer; raises MalformedAnswer saying what is wrong."""
    body = _FENCE.sub("", (text or "").strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise MalformedAnswer(f"no JSON object in the answer: {_excerpt(text)}")
    try:
        data = json.loads(body[start:end + 1])
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"invalid JSON ({exc.msg}): {_excerpt(text)}") from exc
    if not isinstance(data, dict):
        raise MalformedAnswer(f"the answer is not a JSON object: {_excerpt(text)}")
    try:
        return Caption.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors())
        raise MalformedAnswer(f"{problems}: {_excerpt(text)}") from exc


def _excerpt(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return repr(text if len(text) <= limit else text[:limit] + "...")
