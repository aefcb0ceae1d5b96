"""What every tool shares: the runner that applies the deadline and the error translation, result building, and
publishing a function as a tool with compact schemas."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, ParamSpec, TypeVar, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from bimpe_mcp.render import json_text
from bimpe_mcp.schema import compact
from bimpe_mcp.state import AppState
from bimpe_mcp.tool_errors import ErrorInfo, ToolFailure, guarded

Ctx = Context[AppState, Any]
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")

# destructive and idempotent hints mean something only for tools that change state, so reads leave them out.
READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
# Not destructive in the API's sense, but a call rings a phone and costs money: hosts should ask first.
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A tool's answer: the structured result and the same facts as compact text."""

    model: M
    text: str


def state_of(ctx: Ctx) -> AppState:
    return ctx.request_context.lifespan_context


def failure_result(info: ErrorInfo) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=info.text())],
        structured_content={"error": info.model_dump(mode="json")},
        is_error=True,
    )


def error_result(state: AppState, failure: ToolFailure) -> CallToolResult:
    key = state.settings.api_key.get_secret_value() if state.settings.api_key else ""
    message = failure.info.message
    if len(key) >= 4:
        message = message.replace(key, "[redacted]")
    return failure_result(failure.info.model_copy(update={"message": message}))


def ok_result(state: AppState, reply: Reply[Any]) -> CallToolResult:
    # exclude_none: an unknown value is absent, never null, which is what the published output schemas say.
    data = reply.model.model_dump(mode="json", exclude_none=True)
    text = json_text(reply.model) if state.settings.text_format == "json" else reply.text
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def answers(
    *, own_deadlines: bool = False
) -> Callable[[Callable[P, Awaitable[Reply[Any]]]], Callable[P, Awaitable[CallToolResult]]]:
    """Make a tool body that returns a Reply into a tool function: the per-call deadline (unless the body bounds
    each of its own requests, as waits and writes do), and every failure as a tool error the model can act on."""

    def decorate(body: Callable[P, Awaitable[Reply[Any]]]) -> Callable[P, Awaitable[CallToolResult]]:
        @functools.wraps(body)
        async def tool(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
            # The SDK passes every argument by name, the context as `ctx` (the name all tools give it).
            state = state_of(cast("Ctx", kwargs["ctx"]))
            try:
                if own_deadlines:
                    reply = await body(*args, **kwargs)
                else:
                    reply = await guarded(state.settings.deadline_seconds, lambda: body(*args, **kwargs))
            except ToolFailure as failure:
                return error_result(state, failure)
            return ok_result(state, reply)

        # The SDK derives the outputSchema from the return annotation: publish Reply[M] as "a CallToolResult whose
        # structured content is an M", the form it validates against M.
        output = typing.get_args(typing.get_type_hints(body)["return"])[0]
        signature = inspect.signature(body, eval_str=True)
        tool.__signature__ = signature.replace(  # pyright: ignore[reportAttributeAccessIssue]
            return_annotation=Annotated[CallToolResult, output]
        )
        return tool

    return decorate


def publish(fn: Callable[..., Awaitable[CallToolResult]], title: str, annotations: ToolAnnotations) -> Tool:
    """A tool function as the SDK's Tool, with its schemas made smaller without changing their meaning."""
    description = inspect.cleandoc(fn.__doc__ or "")
    tool = Tool.from_function(fn, title=title, description=description, annotations=annotations)
    # The SDK offers no hook for the published schemas, so the generated ones are replaced on the Tool it built.
    # Optional inputs are published as "give a value or omit it"; an explicit null is still accepted.
    tool.parameters = compact(tool.parameters, nulls_omitted=True)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema, nulls_omitted=True)
    return tool
