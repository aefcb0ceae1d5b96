"""The published schemas are smaller than the generated ones and accept exactly the same values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from bimpe_mcp.tools.schema import compact


class Leaf(BaseModel):
    """A leaf."""

    name: str


class Once(BaseModel):
    size: int


class Part(BaseModel):
    size: int


class Node(BaseModel):
    label: str
    children: list[Node] = []


class Shapes(BaseModel):
    first: Leaf
    second: Leaf | None = None
    once: Once
    described: Annotated[Part, Field(description="Described where it is used")]
    tree: Node
    third: list[Leaf] = []


GENERATED = Shapes.model_json_schema()
PUBLISHED = compact(GENERATED)
VALUES: list[Any] = [
    {"first": {"name": "a"}, "once": {"size": 1}, "described": {"size": 2}, "tree": {"label": "r"}},
    {
        "first": {"name": "a"},
        "second": None,
        "once": {"size": 1},
        "described": {"size": 2},
        "tree": {"label": "r", "children": [{"label": "c", "children": []}]},
        "third": [{"name": "b"}],
    },
    {"first": {"name": 1}, "once": {"size": 1}, "described": {"size": 2}, "tree": {"label": "r"}},
    {"first": {"name": "a"}, "once": {"size": "big"}, "described": {"size": 2}, "tree": {"label": "r"}},
    {"first": {"name": "a"}, "once": {"size": 1}, "described": {}, "tree": {"label": "r"}},
    {"first": {"name": "a"}, "once": {"size": 1}, "described": {"size": 2}, "tree": {"label": "r", "children": [{}]}},
    {"first": {"name": "a"}, "once": {"size": 1}, "described": {"size": 2}, "tree": {"label": "r"}, "third": [{}]},
    {"first": {"name": "a"}, "once": {"size": 1}, "described": {"size": 2}},
    [],
]


def valid(schema: dict[str, Any], value: Any) -> bool:
    validator: Any = Draft202012Validator(schema)
    return bool(validator.is_valid(value))


@pytest.mark.parametrize("value", VALUES)
def test_the_published_schema_accepts_exactly_what_the_generated_one_does(value: Any) -> None:
    assert valid(PUBLISHED, value) == valid(GENERATED, value)


def test_definitions_used_once_move_into_place_and_shared_or_recursive_ones_stay() -> None:
    assert set(PUBLISHED["$defs"]) == {"Leaf", "Node"}
    properties = PUBLISHED["properties"]
    assert properties["once"] == {"properties": {"size": {"type": "integer"}}, "required": ["size"], "type": "object"}
    # A keyword beside the reference that the definition lacks joins it; one it also has keeps both apart.
    assert properties["described"]["description"] == "Described where it is used"
    assert properties["described"]["required"] == ["size"]
    assert properties["first"] == {"$ref": "#/$defs/Leaf"}
    assert PUBLISHED["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert len(str(PUBLISHED)) < len(str(GENERATED))


def test_a_definition_used_once_whose_keywords_clash_with_its_use_is_kept_apart() -> None:
    class Holder(BaseModel):
        only: Annotated[Leaf, Field(description="Where it is used")]

    published = compact(Holder.model_json_schema())
    assert "$defs" not in published
    only = published["properties"]["only"]
    assert only["description"] == "Where it is used" and only["allOf"][0]["description"] == "A leaf."
    values: list[Any] = [{"only": {"name": "a"}}, {"only": {}}, {"only": {"name": 2}}]
    for value in values:
        assert valid(published, value) == valid(Holder.model_json_schema(), value)


class Optional(BaseModel):
    kind: Literal["a", "b"] | None = None
    extra: Once | None = None


def test_an_optional_definition_put_in_place_is_folded_like_any_optional_value() -> None:
    generated = Optional.model_json_schema()
    kept = compact(generated)
    assert kept["properties"]["extra"]["type"] == ["object", "null"] and "$defs" not in kept
    assert kept["properties"]["kind"]["enum"] == ["a", "b", None]
    values: list[Any] = [{}, {"extra": None, "kind": None}, {"extra": {"size": 1}, "kind": "a"}, {"kind": "c"}]
    for value in values:
        assert valid(kept, value) == valid(generated, value)
    # For results serialized without nulls, an optional value is present or absent, never null.
    omitted = compact(generated, nulls_omitted=True)["properties"]
    assert omitted["extra"] == {"properties": {"size": {"type": "integer"}}, "required": ["size"], "type": "object"}
    assert omitted["kind"] == {"enum": ["a", "b"], "type": "string"}
