"""Arguments that fail a tool's schema get the same error shape as every other failure, naming each field and what
it takes, instead of the validator's own report (which also echoes the rejected value back)."""

from __future__ import annotations

from typing import Any, cast

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult
from pydantic import ValidationError

from bimpe_mcp.tool_errors import ToolFailure
from bimpe_mcp.tools.runtime import failure_result


def argument_check(tools: list[Tool]) -> ServerMiddleware[Any]:
    """A middleware that validates tools/call arguments before the SDK does.

    The SDK reports invalid arguments itself, as a tool error carrying pydantic's text and the rejected input; it has
    no hook to shape that error. Its (provisional) middleware API sees each raw request first, so the arguments are
    validated here with the same model the SDK would use (`fn_metadata`), and only valid calls go on."""
    by_name = {t.name: t for t in tools}

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params: Any = ctx.params
        if ctx.method == "tools/call" and isinstance(params, dict):
            call = cast("dict[str, Any]", params)
            tool = by_name.get(str(call.get("name")))
            arguments: Any = call.get("arguments") or {}
            if tool is not None and isinstance(arguments, dict):
                try:
                    tool.fn_metadata.validate_arguments(cast("dict[str, Any]", arguments))
                except ValidationError as exc:
                    return _argument_error(tool, exc)
        return await call_next(ctx)

    return middleware


def _argument_error(tool: Tool, exc: ValidationError) -> CallToolResult:
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    problems: list[str] = []
    hints: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in err["loc"]) or "arguments"
        problems.append(f"{field}: {err['msg']}")
        about = properties.get(field, {}).get("description")
        if about and f"{field}: {about}" not in hints:
            hints.append(f"{field}: {about}")
    failure = ToolFailure(
        "invalid_argument",
        "; ".join(problems),
        "Correct the arguments and call again" + (f" ({'; '.join(hints)})." if hints else "."),
    )
    return failure_result(failure.info)
