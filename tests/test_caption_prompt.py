"""The captioning prompt's presets and reading the model's structured answer."""

from __future__ import annotations

import pytest

from sceneline.transforms.models.caption import asset_category
from sceneline.transforms.models.caption_prompt import (
    CATEGORIES,
    CaptionRequest,
    MalformedAnswer,
    UnknownCategoryError,
    caption_prompt,
    check_category,
    parse_answer,
)
from sceneline.schemas import MediaAsset, MediaType


def test_a_clean_answer_parses_and_tags_are_normalised():
    caption = parse_answer('{"description": "  A red  bicycle\\nagainst a wall. ", '
                           '"tags": ["Bicycle", "red", "#wall", "red", "  "]}')
    assert caption.description == "A red bicycle against a wall."
    assert caption.tags == ["bicycle", "red", "wall"]


@pytest.mark.parametrize("answer", [
    '```json\n{"description": "a dog", "tags": ["dog"]}\n```',
    'Sure! Here is the JSON: {"description": "a dog", "tags": ["dog"]} Hope it helps.',
    '{"caption": "a dog", "keywords": "dog"}',
])
def test_harmless_deviations_are_accepted(answer):
    caption = parse_answer(answer)
    assert caption.description == "a dog" and caption.tags == ["dog"]


@pytest.mark.parametrize("answer, reason", [
    ("A dog on a beach.", "no JSON object"),
    ('{"description": "a dog", "tags": ["dog"', "no JSON object"),
    ('{"description": "a dog" "tags": []}', "invalid JSON"),
    ('{"description": "   ", "tags": []}', "description"),
    ('{"tags": ["dog"]}', "description"),
    ('{"description": "a dog", "tags": [1, 2]}', "tags"),
    ("", "no JSON object"),
])
def test_malformed_answers_say_what_is_wrong(answer, reason):
    with pytest.raises(MalformedAnswer, match=reason):
        parse_answer(answer)


def test_every_category_has_its_own_prompt_and_names_the_answer_shape():
    prompts = {name: caption_prompt(name) for name in CATEGORIES}
    assert len(set(prompts.values())) == len(CATEGORIES)
    for prompt in prompts.values():
        assert '"description"' in prompt and '"tags"' in prompt
    assert "real-estate" in caption_prompt("Real Estate") and check_category("real-estate") == "real_estate"
    with pytest.raises(UnknownCategoryError, match="general, product"):
        check_category("astrology")


def test_a_repair_request_carries_the_bad_answer_and_the_reason():
    first = CaptionRequest.first(b"jpeg", "document")
    repaired = first.repaired("not json", "no JSON object")
    assert [role for role, _ in repaired.turns] == ["user", "assistant", "user"]
    assert repaired.turns[1][1] == "not json" and "no JSON object" in repaired.turns[2][1]
    assert repaired.image == b"jpeg" and first.turns == repaired.turns[:1]


def test_an_asset_names_its_own_category_in_its_metadata():
    def asset(metadata):
        return MediaAsset(asset_id="a", uri="/x.jpg", media_type=MediaType.IMAGE, size_bytes=1, user_metadata=metadata)

    assert asset_category(asset({}), "general") == ("general", None)
    assert asset_category(asset({"category": "Product"}), "general") == ("product", None)
    category, warning = asset_category(asset({"category": "astrology"}), "document")
    assert category == "document" and "astrology" in warning


@pytest.mark.parametrize("name, asks_for", [
    ("blueprint", "title block"), ("civil-engineering", "chainages"), ("technical diagram", "connect"),
    ("architectural_design", "floor plan"), ("map", "legend and scale"), ("artwork", "medium"),
    ("chart", "axes and units"),
])
def test_drawing_and_design_categories_ask_for_what_matters_in_them(name, asks_for):
    assert asks_for in caption_prompt(name)
