"""What every tool shares: the declaration that makes a body a published tool (title, annotations, `_meta`,
description, Tool class, deadline and error translation), result building, and compact schemas."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, ParamSpec, Self, TypeVar, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from bimpe_mcp.core.failures import ErrorInfo, ToolFailure, guarded
from bimpe_mcp.core.render import json_text
from bimpe_mcp.tools.arguments import argument_failure
from bimpe_mcp.tools.schema import compact
from bimpe_mcp.tools.state import AppState

if TYPE_CHECKING:
    from bimpe_mcp.core.settings import Settings

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
# Each tool's published input and output schemas, as `DeclaredTool.built` makes them: written by
# scripts/sync_manifest.py, and a test fails while they differ from what the code builds.
SCHEMAS = Path(__file__).with_name("schemas.json")


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A tool's answer: the structured result and the same facts as compact text, and what only a view reads
    (`meta`, the result's `_meta`: hosts hand it to the tool's MCP Apps view, never to the model)."""

    model: M
    text: str
    meta: dict[str, Any] | None = None


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
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data, _meta=reply.meta)


class CheckedTool(Tool):
    """The SDK's Tool, answering arguments that fail its model with our own tool error.

    The SDK reports invalid arguments itself, with pydantic's text and the rejected input, and has no hook to shape
    that error. It raises them as a ToolError caused by the ValidationError, before any resolver or the body runs
    (anything the body or a resolver raises is wrapped with that failure as its cause instead): answering that one
    here keeps the answer a tool result like any other, validated once, and still shaped by the SDK for the
    connection's protocol version, which a middleware's own answer would skip."""

    _full: Callable[[], Tool] | None = PrivateAttr(default=None)
    """Where the tool was listed from its stored schemas: the SDK's Tool, built on the first call."""

    @classmethod
    def listed(cls, full: Callable[[], Tool], schemas: Mapping[str, Any], **fields: Any) -> Self:
        """The tool as listed from its stored schemas, without the SDK's build: `full` builds that on the first
        call, which runs there."""
        tool = cls.model_construct(parameters=schemas["inputSchema"], **fields)  # what runs it is `full`'s
        vars(tool)["output_schema"] = schemas.get("outputSchema")  # the SDK's cached property, known already
        tool._full = functools.cache(full)
        return tool

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        if self._full is not None:
            return await self._full().run(arguments, context, convert_result)
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            failure = argument_failure(self, cause)
            await self.refused(arguments, context, failure)
            return failure_result(failure.info)

    async def refused(self, arguments: dict[str, Any], context: Any, failure: ToolFailure) -> None:
        """Told of arguments that failed the tool's model, before the error is answered (a tool whose attempts
        are recorded records this one too)."""


@dataclass(frozen=True)
class DeclaredTool:
    """A tool as it is declared beside its body: everything tools/list says about it, and the Tool class that
    runs it. `tail` adds the settings' word to the description (the operator's limits, say), when it has one."""

    fn: Callable[..., Awaitable[CallToolResult]]
    title: str
    annotations: ToolAnnotations
    meta: Mapping[str, Any] | Callable[[Settings | None], Mapping[str, Any] | None] | None = None
    tail: Callable[[Settings], str | None] | None = None
    kind: type[CheckedTool] = CheckedTool
    shown: Callable[[Settings], bool] | None = None

    def listed(self, settings: Settings | None) -> bool:
        """Whether the server lists the tool: `shown` decides with the settings (every tool is listed without)."""
        return self.shown is None or settings is None or self.shown(settings)

    @property
    def changes_state(self) -> bool:
        return self.annotations.read_only_hint is not True

    def description(self, settings: Settings | None) -> str:
        text = inspect.cleandoc(self.fn.__doc__ or "")
        extra = self.tail(settings) if self.tail is not None and settings is not None else None
        return f"{text}\n{extra}" if extra else text

    @property
    def name(self) -> str:
        return self.fn.__name__

    def published(self, settings: Settings | None = None) -> Tool:
        """The tool as tools/list shows it, from its stored schemas (`SCHEMAS`): what the SDK builds from the
        signature costs more than the rest of the start-up, and is built on the tool's first call instead. A tool
        the file lacks is built now."""
        stored = stored_schemas().get(self.name)
        if stored is None:
            return self.built(settings)
        return self.kind.listed(
            lambda: self.built(settings),
            stored,
            fn=self.fn,
            name=self.name,
            title=self.title,
            description=self.description(settings),
            annotations=self.annotations,
            meta=self._meta(settings),
        )

    def _meta(self, settings: Settings | None) -> dict[str, Any] | None:
        given = self.meta(settings) if callable(self.meta) else self.meta
        return copy.deepcopy(dict(given)) if given is not None else None

    def built(self, settings: Settings | None = None) -> Tool:
        """The SDK's Tool (of `kind`), with its schemas made smaller without changing their meaning.

        The SDK builds the schemas from the signature and offers no hook for them, so the Tool it built is copied
        with its argument model and published schemas in place of the generated ones. Its argument model ignores
        unknown arguments, so a misspelt filter would go unapplied without a word: the strict model refuses them
        and publishes additionalProperties: false. Optional inputs are published as "give a value or omit it"; an
        explicit null is still accepted, and an empty string is read as omitted."""
        built = self.kind.from_function(
            self.fn,
            title=self.title,
            description=self.description(settings),
            annotations=self.annotations,
            meta=self._meta(settings),
        )
        generated = built.fn_metadata
        output = generated.output_schema
        metadata = generated.model_copy(
            update={
                "arg_model": _refusing_extras(generated.arg_model),
                "output_schema": None if output is None else compact(output, nulls_omitted=True),
            }
        )
        # The strict model's schema is the generated one refusing other properties (its validator adds no schema):
        # taken from the one the SDK just built, so that the strict model's own is built only when first used.
        parameters = compact(built.parameters | {"additionalProperties": False}, nulls_omitted=True)
        return built.model_copy(update={"fn_metadata": metadata, "parameters": parameters})

    def schemas(self) -> dict[str, Any]:
        """What `SCHEMAS` holds for the tool."""
        full = self.built()
        return {"inputSchema": full.parameters, "outputSchema": full.output_schema}


@functools.cache
def stored_schemas() -> dict[str, dict[str, Any]]:
    """The tools' stored schemas by name; none where the file is missing or unreadable (each tool is then built
    at start, as the SDK does)."""
    try:
        stored = json.loads(SCHEMAS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cast("dict[str, dict[str, Any]]", stored) if isinstance(stored, dict) else {}


def tool(
    title: str,
    annotations: ToolAnnotations,
    *,
    own_deadlines: bool = False,
    meta: Mapping[str, Any] | Callable[[Settings | None], Mapping[str, Any] | None] | None = None,
    tail: Callable[[Settings], str | None] | None = None,
    kind: type[CheckedTool] = CheckedTool,
    shown: Callable[[Settings], bool] | None = None,
) -> Callable[[Callable[P, Awaitable[Reply[Any]]]], DeclaredTool]:
    """Declare a tool body that returns a Reply as a tool: its title, annotations, `_meta`, description tail and
    Tool class, whether the settings list it (`shown`), and how it runs: the per-call deadline (unless the body
    bounds each of its own requests, as waits and writes do), and every failure as a tool error the model can act
    on. The description is the docstring."""

    def declare(body: Callable[P, Awaitable[Reply[Any]]]) -> DeclaredTool:
        fn = _answering(body, own_deadlines=own_deadlines)
        return DeclaredTool(fn, title, annotations, meta=meta, tail=tail, kind=kind, shown=shown)

    return declare


def _answering(
    body: Callable[P, Awaitable[Reply[Any]]], *, own_deadlines: bool
) -> Callable[P, Awaitable[CallToolResult]]:
    @functools.wraps(body)
    async def answer(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
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
    signature = inspect.signature(body, eval_str=True)
    output = typing.get_args(signature.return_annotation)[0]
    answer.__signature__ = signature.replace(  # pyright: ignore[reportAttributeAccessIssue]
        return_annotation=Annotated[CallToolResult, output]
    )
    return answer


class EmptyIsOmitted(ArgModelBase):
    """Arguments read with an empty string given for an optional argument as not given: clients that make every
    argument required (openai-agents' strict schemas) send "" for the ones the model leaves out."""

    @model_validator(mode="before")
    @classmethod
    def empty_is_omitted(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {f.alias or name for name, f in cls.model_fields.items() if not f.is_required()}
        given = cast("dict[str, Any]", data)
        return {k: v for k, v in given.items() if not (k in optional and isinstance(v, str) and v == "")}


def _refusing_extras(model: type[ArgModelBase]) -> type[ArgModelBase]:
    """The argument model refusing unknown arguments, and reading "" for an optional one as omitted."""
    config = ConfigDict(**model.model_config)
    config["extra"] = "forbid"
    # Built on the first call of the tool, not while the server starts: tools/list never needs it.
    config["defer_build"] = True
    namespace = {"model_config": config, "__module__": __name__}
    return cast("type[ArgModelBase]", type(model.__name__, (EmptyIsOmitted, model), namespace))
