"""Argument types the tools share: each says what a model needs to form the value and where it comes from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Ids are checked against the contract's pattern by the client before any request, with a clearer message than a
# schema pattern gives; the schema says only what a model needs to form one.
AgentIdArg = Annotated[str | None, Field(description="From list_agents; default if omitted")]
CallIdArg = Annotated[str, Field(description="From list_calls")]
MaxCharsArg = Annotated[int | None, Field(ge=200, le=100_000, description="Transcript budget in characters")]
PageArg = Annotated[int, Field(ge=1)]
LimitArg = Annotated[int, Field(ge=1, le=100)]
