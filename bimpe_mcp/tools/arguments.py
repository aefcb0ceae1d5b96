"""The tools' arguments: the types they share (each says what a model needs to form the value and where it comes
from), and the error for arguments that fail a tool's schema, in the same shape as every other failure, naming each
field and what it takes instead of the validator's own report (which also echoes the rejected value back)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.failures import ToolFailure

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool
    from pydantic import ValidationError


def _refuse_empty(hint: str) -> AfterValidator:
    # A required id given empty is a slip. (An optional argument given empty is read as omitted, before this.)
    def check(value: str | None) -> str | None:
        if value == "":
            raise ValueError(f"an empty id; {hint}")
        return value

    return AfterValidator(check)


# Ids are checked against the contract's pattern by the client before any request, with a clearer message than a
# schema pattern gives; the schema says only what a model needs to form one.
AgentIdArg = Annotated[str | None, Field(description="From list_agents; default if omitted")]
CallIdArg = Annotated[str, Field(description="From list_calls"), _refuse_empty("pass an id from list_calls")]
MaxCharsArg = Annotated[int | None, Field(ge=200, le=100_000, description="Budget in characters")]
PageArg = Annotated[int, Field(ge=1)]
LimitArg = Annotated[int, Field(ge=1, le=100)]
SinceArg = Annotated[str | None, Field(max_length=40, description="ISO date/time, today, yesterday, 24h, 7d")]
UntilArg = Annotated[str | None, Field(max_length=40, description="Same forms; a day counts whole")]
MaxPagesArg = Annotated[int, Field(ge=1, le=50)]

# A destination is read as people write it (separators ignored, 00 read as +) by the gate, which words what is
# wrong with one; the schema says the form to send.
DestinationArg = Annotated[str, Field(max_length=40, description="E.164 number, e.g. +2348012345678")]

_KEY_FORM = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _key_form(value: str | None) -> str | None:
    if value is not None and not _KEY_FORM.fullmatch(value):
        raise ValueError(
            "not an idempotency key: a key is 8 to 64 letters, digits, - or _, exactly as an earlier place_call "
            "answered it; omit idempotency_key for a new call"
        )
    return value


IdempotencyKeyArg = Annotated[
    str | None,
    Field(description="From a failed attempt: a retry with it never rings twice"),
    AfterValidator(_key_form),
]

_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_SHOWN_CHARS = 64


def argument_failure(tool: Tool, exc: ValidationError) -> ToolFailure:
    """The tool error for arguments that fail the tool's model: each problem by field, unknown arguments by name
    with the ones the tool takes, and what each field needs."""
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    takes = ", ".join(properties) or "no arguments"
    problems: list[str] = []
    unknown: list[str] = []
    hints: list[str] = []
    fields_done: set[str] = set()
    for err in exc.errors(include_url=False, include_input=False):
        # A union's branches (one value or a list) add a tag to the location: the field is what a model named.
        tagged = any("[" in str(part) for part in err["loc"])
        name = ".".join(str(part) for part in err["loc"] if "[" not in str(part))
        if err["type"] == "extra_forbidden":
            unknown.append(name)
            continue
        field = name or "arguments"
        if tagged and field.split(".")[0] in fields_done:
            continue
        fields_done.add(field.split(".")[0])
        problems.append(f"{field}: {_worded(err['type'], err['msg'])}")
        about = properties.get(field, {}).get("description")
        if about and f"{field}: {about}" not in hints:
            hints.append(f"{field}: {about}")
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        names = ", ".join(_shown(name) for name in unknown)
        problems.append(f"unknown argument{plural} {names}; {tool.name} takes {takes}")
        hints.extend(_did_you_mean(unknown, properties))
    return ToolFailure(
        "invalid_argument",
        "; ".join(problems),
        "Correct the arguments and call again" + (f" ({'; '.join(hints)})." if hints else "."),
    )


def _worded(kind: str, message: str) -> str:
    """The validator's message, without a regular expression: a pattern's failure is said in words, and the
    field's description (in the next step) says what is accepted."""
    if kind == "string_pattern_mismatch":
        return "not in the accepted form"
    return message.removeprefix("Value error, ")


def _shown(name: str) -> str:
    """An argument name the client sent, safe to echo: cut short, and every character outside a plain name shown
    as "?", so that it stays one word and can never break or forge a line of the error text."""
    return shown(name, _SHOWN_CHARS, cut="...", clean=_plain)


def _plain(name: str) -> str:
    return _NOT_IN_A_NAME.sub("?", name) or '""'


def _did_you_mean(unknown: list[str], properties: dict[str, Any]) -> list[str]:
    """`agentId` for agent_id, `callId` for call_id: the usual slips of a model, matched without case or
    separators."""
    by_key = {_key(name): name for name in properties}
    return [f"use {by_key[_key(name)]}, not {_shown(name)}" for name in unknown if _key(name) in by_key]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
