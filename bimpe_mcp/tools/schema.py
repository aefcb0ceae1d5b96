"""Equivalent, smaller JSON Schemas for tools/list: every character of it is paid for in the model's context."""

from __future__ import annotations

from typing import Any, cast

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not")
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")


def compact(schema: dict[str, Any], *, drop_null_defaults: bool = False, nulls_omitted: bool = False) -> dict[str, Any]:
    """Drop generated titles, fold `anyOf: [X, {type: null}]` into `type: [X, "null"]` and put each definition used
    once in the place that uses it; the meaning is unchanged.

    `nulls_omitted` is for output schemas of results serialized with `exclude_none`: a value is then a string (say)
    or absent, never null, so `type: [X, "null"]` narrows to `type: X` (and the null default goes too)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "additionalProperties" and value is True):
            continue
        if key == "default" and value is None and (drop_null_defaults or nulls_omitted):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            members = cast("dict[str, Any]", value)
            out[key] = {
                k: compact(v, drop_null_defaults=drop_null_defaults, nulls_omitted=nulls_omitted)
                for k, v in members.items()
            }
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            items = cast("list[dict[str, Any]]", value)
            out[key] = [compact(v, drop_null_defaults=drop_null_defaults, nulls_omitted=nulls_omitted) for v in items]
        elif key in _SUBSCHEMA_ONE and isinstance(value, dict):
            out[key] = compact(
                cast("dict[str, Any]", value), drop_null_defaults=drop_null_defaults, nulls_omitted=nulls_omitted
            )
        else:
            out[key] = value
    if isinstance(out.get("$defs"), dict):
        inlined = _inline_single_use(out)
        if inlined != out:
            # A definition put in place may now sit in `anyOf: [X, {type: null}]`: compact again to fold it.
            return compact(inlined, drop_null_defaults=drop_null_defaults, nulls_omitted=nulls_omitted)
    folded = _fold_nullable(out)
    if nulls_omitted and isinstance(folded.get("type"), list) and "null" in folded["type"]:
        kinds = [k for k in cast("list[str]", folded["type"]) if k != "null"]
        folded["type"] = kinds[0] if len(kinds) == 1 else kinds
        if isinstance(folded.get("enum"), list):
            folded["enum"] = [v for v in cast("list[Any]", folded["enum"]) if v is not None]
    return folded


def _fold_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(cast("list[Any]", options)) != 2:
        return schema
    first, second = cast("list[dict[str, Any]]", options)
    if second != {"type": "null"} or not isinstance(first.get("type"), str):
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"} | first
    merged["type"] = [first["type"], "null"]
    if isinstance(first.get("enum"), list):
        merged["enum"] = [*cast("list[Any]", first["enum"]), None]
    return merged


_DEFS_PREFIX = "#/$defs/"


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each `{"$ref": "#/$defs/X"}` whose definition is used there only by the definition itself.

    A definition used twice stays shared, and one that refers to itself (a recursive type) stays a definition."""
    defs = dict(cast("dict[str, Any]", schema["$defs"]))
    root = {k: v for k, v in schema.items() if k != "$defs"}
    while True:
        uses = _ref_counts([root, defs])
        once = [n for n in defs if uses.get(n) == 1 and _ref_counts(defs[n]).get(n) is None]
        if not once:
            break
        name = once[0]
        body = defs.pop(name)
        root = _replace_ref(root, name, body)
        defs = {k: _replace_ref(v, name, body) for k, v in defs.items()}
    return root | ({"$defs": defs} if defs else {})


def _ref_counts(node: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    if isinstance(node, dict):
        mapping = cast("dict[str, Any]", node)
        ref = mapping.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
            name = ref.removeprefix(_DEFS_PREFIX)
            counts[name] = 1
        children: list[Any] = list(mapping.values())
    elif isinstance(node, list):
        children = list(cast("list[Any]", node))
    else:
        return counts
    for child in children:
        for name, n in _ref_counts(child).items():
            counts[name] = counts.get(name, 0) + n
    return counts


def _replace_ref(node: Any, name: str, body: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_replace_ref(v, name, body) for v in cast("list[Any]", node)]
    if not isinstance(node, dict):
        return node
    mapping = cast("dict[str, Any]", node)
    if mapping.get("$ref") == _DEFS_PREFIX + name:
        siblings = {k: v for k, v in mapping.items() if k != "$ref"}
        # Keywords beside a $ref apply together with it: merged they mean the same, unless the two share a keyword.
        return siblings | ({"allOf": [body]} if siblings.keys() & body.keys() else body)
    return {k: _replace_ref(v, name, body) for k, v in mapping.items()}
