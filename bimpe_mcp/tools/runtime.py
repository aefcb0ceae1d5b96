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
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from bimpe_mcp.core.failures import ErrorInfo, ToolFailure, guarded
from bimpe_mcp.core.render import json_text
from bimpe_mcp.tools.arguments import argument_failure
from bimpe_mcp.tools.schema import compact
from bimpe_mcp.tools.state import AppState

Ctx = Context[AppState, Any]
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")

# destructive and idempotent hints mean something only for tools that change state, so reads leave them out.
READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
# Not destructive in the API's sense, but a call rings a phone and costs money: hosts should ask first.
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
# Where an error result keeps its fields for programs (namespaced, as the protocol asks of _meta keys).
ERROR_META_KEY = "bimpe.ai/error"
# Fields only a policy refusal has: left out of every other error.
POLICY_FIELDS = ("rule", "setting", "retry_at")


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A tool's answer: the structured result and the same facts as compact text."""

    model: M
    text: str


def state_of(ctx: Ctx) -> AppState:
    return ctx.request_context.lifespan_context


def failure_result(info: ErrorInfo) -> CallToolResult:
    """Every tool error: the text a model reads (code, message, next step, retryability, request id), and the same
    fields under `_meta` for programs.

    An error carries no structuredContent. Structured content is the tool's output, and clients check it against
    the outputSchema even when isError is set (the TypeScript SDK 1.x throws, the MCP Inspector exits): an error
    shape there turns the tool error into a client failure and the model never reads it. No output shape could
    carry an error without weakening every tool's schema, and no client validates `_meta`."""
    return CallToolResult(
        content=[TextContent(type="text", text=info.text())],
        is_error=True,
        _meta={
            ERROR_META_KEY: info.model_dump(mode="json", exclude={k for k in POLICY_FIELDS if not getattr(info, k)})
        },
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


class CheckedTool(Tool):
    """The SDK's Tool, answering arguments that fail its model with our own tool error.

    The SDK reports invalid arguments itself, with pydantic's text and the rejected input, and has no hook to shape
    that error. Checking first, in the tool, keeps the answer a tool result like any other: the SDK still shapes it
    for the connection's protocol version, which a middleware's own answer would skip."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:
            failure = argument_failure(self, exc)
            self.refused(arguments, context, failure)
            return failure_result(failure.info)
        return await super().run(arguments, context, convert_result)

    def refused(self, arguments: dict[str, Any], context: Any, failure: ToolFailure) -> None:
        """Told of arguments that failed the tool's model, before the error is answered (a tool whose attempts
        are recorded records this one too)."""


def publish(
    fn: Callable[..., Awaitable[CallToolResult]],
    title: str,
    annotations: ToolAnnotations,
    kind: type[CheckedTool] = CheckedTool,
) -> Tool:
    """A tool function as the SDK's Tool (of `kind`), with its schemas made smaller without changing their meaning."""
    description = inspect.cleandoc(fn.__doc__ or "")
    tool = kind.from_function(fn, title=title, description=description, annotations=annotations)
    # The SDK offers no hook for the published schemas, so the generated ones are replaced on the Tool it built.
    # Its argument model ignores unknown arguments, so a misspelt filter would go unapplied without a word: the
    # strict model refuses them (both in our argument check and in the SDK's own validation) and publishes
    # additionalProperties: false. Optional inputs are published as "give a value or omit it"; an explicit null
    # is still accepted.
    strict = _refusing_extras(tool.fn_metadata.arg_model)
    tool.fn_metadata.arg_model = strict
    tool.parameters = compact(strict.model_json_schema(by_alias=True), nulls_omitted=True)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema, nulls_omitted=True)
    return tool


def _refusing_extras(model: type[ArgModelBase]) -> type[ArgModelBase]:
    config = ConfigDict(**model.model_config)
    config["extra"] = "forbid"
    return cast("type[ArgModelBase]", type(model.__name__, (model,), {"model_config": config, "__module__": __name__}))
