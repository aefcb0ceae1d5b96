"""Argument types the tools share: each says what a model needs to form the value and where it comes from."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _refuse_empty(hint: str) -> AfterValidator:
    # An empty id is a slip, never a request for the default agent: only an omitted agent_id means that.
    def check(value: str | None) -> str | None:
        if value == "":
            raise ValueError(f"an empty id; {hint}")
        return value

    return AfterValidator(check)


# Ids are checked against the contract's pattern by the client before any request, with a clearer message than a
# schema pattern gives; the schema says only what a model needs to form one.
AgentIdArg = Annotated[
    str | None,
    Field(description="From list_agents; default if omitted"),
    _refuse_empty("omit agent_id to use the default agent"),
]
CallIdArg = Annotated[str, Field(description="From list_calls"), _refuse_empty("pass an id from list_calls")]
MaxCharsArg = Annotated[int | None, Field(ge=200, le=100_000, description="Budget in characters")]
PageArg = Annotated[int, Field(ge=1)]
LimitArg = Annotated[int, Field(ge=1, le=100)]
SinceArg = Annotated[str | None, Field(max_length=40, description="ISO date/time, today, yesterday, 24h, 7d")]
UntilArg = Annotated[str | None, Field(max_length=40, description="Same forms, exclusive")]
MaxPagesArg = Annotated[int, Field(ge=1, le=50)]
