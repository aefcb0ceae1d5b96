"""stdio that answers the lines it cannot read, so that a client never waits for an answer that will not come.

The SDK's stdio transport hands a line it cannot parse (invalid JSON, a lone UTF-16 surrogate escape, an integer of
more than 4,300 digits, JSON nested deeper than its parser goes (about 200 levels), or JSON that is no JSON-RPC message)
to the server as an exception, which the server drops with a debug log. Here each such line gets, per JSON-RPC 2.0:

- a request whose id can still be read: an error with that id, -32700 (parse error) when the line is not JSON the
  server can read, -32600 (invalid request) when it is JSON but no valid message;
- a line that is not JSON at all, or a request whose id cannot be read: the same errors with `"id": null`, since
  JSON-RPC 2.0 (section 5) says the id MUST be null when it cannot be detected;
- a notification or a response (a method without an id, or a result or error): nothing may be answered, so one
  WARNING is logged instead.

The server goes on serving the next line either way.

Ctrl+C (SIGINT) and SIGTERM end the server as the end of stdin does: the server stops reading, finishes, and closes
its state, then the process ends with 128 + the signal's number (130, 143). The SDK reads stdin in a worker thread that
nothing can interrupt until a line or the end of input arrives (python-sdk#3551), so the process ends without waiting
for it; a second signal ends it at once. For the same reason a client that stops reading the server's output (closes
its end of stdout) ends the process with 1 and one line on stderr, not a traceback once another line comes.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, NoReturn, cast

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from bimpe_mcp.server.sdk import lowlevel

log = logging.getLogger(__name__)

# Python's own limit on the digits of an int read from text; longer numbers are kept out of the lenient read.
MAX_DIGITS = 4300


class _Huge:
    """Stands in for a number too long to read, so that the rest of the line can still be read."""


def _number(text: str) -> int | _Huge:
    return int(text) if len(text) <= MAX_DIGITS else _Huge()


def _lenient(line: str) -> object:
    """The line read as Python reads JSON: lone surrogates pass, huge numbers are set aside. None if not JSON, or
    nested too deep to read at all (Python's reader then stops at its recursion limit, whatever the depth)."""
    try:
        return json.loads(line, parse_int=_number)
    except (ValueError, RecursionError):
        return None


def _usable_id(value: object) -> int | str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return None
    return value


def _message(exc: ValidationError) -> tuple[object, int, str]:
    """What the line held (as far as it can be read), the error code it earns, and why it was refused."""
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else None
    if first is not None and first["type"] == "json_invalid" and isinstance(first["input"], str):
        return _lenient(first["input"]), PARSE_ERROR, str(first["msg"])
    # Valid JSON but no JSON-RPC message: the whole object is the input of the errors about missing members.
    objects = [cast("dict[str, Any]", e["input"]) for e in errors if isinstance(e["input"], dict)]
    return (objects[0] if objects else None), INVALID_REQUEST, "not a valid JSON-RPC message"


def answer(exc: Exception) -> JSONRPCError | None:
    """The error response an unreadable line earns, or None (logged once) when it may not be answered."""
    if not isinstance(exc, ValidationError):
        log.warning("stdio: dropped an unreadable message (%s)", type(exc).__name__)
        return None
    held, code, why = _message(exc)
    fields = cast("dict[str, Any]", held) if isinstance(held, dict) else None
    if fields is not None and ("id" not in fields or "method" not in fields) and not _junk(fields):
        log.warning("stdio: dropped an unreadable notification or response, which may not be answered: %s", why)
        return None
    request_id = _usable_id(fields.get("id")) if fields is not None else None
    title = "Parse error" if code == PARSE_ERROR else "Invalid request"
    log.info("stdio: answered an unreadable line with %d (id %r): %s", code, request_id, why)
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=f"{title}: {why}"))


def _junk(fields: dict[str, Any]) -> bool:
    """An object that is neither a request, a notification nor a response: answered with id null."""
    return not {"method", "result", "error"} & fields.keys()


@asynccontextmanager
async def answering_stdio(
    stop_reading: anyio.CancelScope,
) -> AsyncGenerator[tuple[MemoryObjectReceiveStream[SessionMessage | Exception], Any]]:
    """The SDK's stdio streams, with every unreadable line answered (or logged) here instead of reaching the server.
    Cancelling `stop_reading` ends what the server reads, as the end of stdin would.

    The SDK transport is kept whole (it also guards fd 0 and fd 1 while serving); only what it reads is relayed."""
    async with stdio_server() as (read, write):
        forward, checked = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        replies = write.clone()

        async def relay() -> None:
            with stop_reading:
                async with forward, replies:
                    async for item in read:
                        if not isinstance(item, Exception):
                            await forward.send(item)
                        elif (reply := answer(item)) is not None:
                            await replies.send(SessionMessage(reply))

        async with anyio.create_task_group() as tg:
            tg.start_soon(relay)
            yield checked, write


# The signals that stop the server: Ctrl+C, and what process managers and hosts send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """A stop signal while serving: the first stops reading, a second ends the process at once."""

    def __init__(self) -> None:
        self.stop_reading = anyio.CancelScope()
        self.signum: int | None = None

    def __call__(self, signum: int) -> None:
        if self.signum is not None:
            end_process(128 + signum, clean=False)
        self.signum = signum
        log.info("%s: stopping", signal.Signals(signum).name)
        self.stop_reading.cancel()


@contextmanager
def interrupts(interrupt: Interrupt) -> Generator[None]:
    """Each stop signal calls `interrupt` on the event loop (in place of cancelling the whole run, which would wait on
    the SDK's stdin thread, or of ending at once, which would skip closing the server's state)."""
    loop = asyncio.get_running_loop()

    def handle(signum: int, _frame: object) -> None:
        loop.call_soon_threadsafe(interrupt, signum)

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def end_process(code: int, *, clean: bool) -> NoReturn:
    """End with `code` without joining the SDK's stdin thread. After a clean stop the exit handlers run first, as at
    any exit (logging's final flush is one); a second signal does not wait for them."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    if clean:
        atexit._run_exitfuncs()  # pyright: ignore[reportPrivateUsage]
    os._exit(code)


async def serve_stdio(mcp: MCPServer[Any]) -> None:
    """Serve `mcp` over stdin and stdout until stdin closes, or until a stop signal (then the process ends with
    128 + its number)."""
    server = lowlevel(mcp)
    interrupt = Interrupt()
    with interrupts(interrupt):
        async with answering_stdio(interrupt.stop_reading) as (read, write):
            try:
                await server.run(read, write, server.create_initialization_options())
            except anyio.get_cancelled_exc_class():
                # Only the SDK's transport cancels the server: its writer failed, the client having closed its end of
                # stdout, and its stdin thread would hold the process until another line came.
                log.warning("stdio: the client no longer reads the server's output; stopping")
                end_process(1, clean=True)
            if interrupt.signum is not None:
                end_process(128 + interrupt.signum, clean=True)
