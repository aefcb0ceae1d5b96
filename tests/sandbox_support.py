"""Helpers for the sandbox's own tests: HTTP and SDK clients bound to an in-process sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, cast

import bimpeai
import httpx
import httpx2

from bimpe_mcp.sandbox import API_PREFIX, Sandbox

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
META_FIELDS = {"total_count", "page_count", "current_page", "limit", "has_next_page", "has_previous_page"}


def key_of(sandbox: Sandbox, role: str) -> str:
    return cast("str", getattr(sandbox.keys, role))


@asynccontextmanager
async def api(sandbox: Sandbox, role: str | None = "full", **headers: str) -> AsyncGenerator[httpx2.AsyncClient]:
    """An httpx2 client on the API root (`<origin>/api/v1/console`) authenticated with a demo key."""
    all_headers = dict(headers)
    if role is not None:
        all_headers["Authorization"] = f"Bearer {key_of(sandbox, role)}"
    async with httpx2.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.origin + API_PREFIX, headers=all_headers
    ) as client:
        yield client


@asynccontextmanager
async def control(sandbox: Sandbox) -> AsyncGenerator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=sandbox.transport(), base_url=sandbox.origin) as client:
        yield client


class SdkTransport(httpx.AsyncBaseTransport):
    """The sandbox's in-process transport (httpx2) under the official SDK, which runs on httpx: each request and
    answer copied across, and each transport failure raised as the httpx error of the same name."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = httpx2.Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=await request.aread(),
            extensions=request.extensions,
        )
        try:
            answer = await self._inner.handle_async_request(sent)
            content = await answer.aread()
        except httpx2.TransportError as exc:
            kind: type[httpx.TransportError] = getattr(httpx, type(exc).__name__)
            raise kind(str(exc), request=request) from exc
        return httpx.Response(answer.status_code, headers=answer.headers.raw, content=content)


@asynccontextmanager
async def sdk(
    sandbox: Sandbox, role: str = "full", *, api_key: str | None = None
) -> AsyncGenerator[bimpeai.AsyncBimpeAI]:
    async with httpx.AsyncClient(transport=SdkTransport(sandbox.transport())) as http:
        client = bimpeai.AsyncBimpeAI(
            api_key=api_key or key_of(sandbox, role), base_url=sandbox.origin, http_client=http, max_retries=0
        )
        async with client:
            yield client


def body(response: httpx2.Response) -> dict[str, Any]:
    parsed = response.json()
    assert isinstance(parsed, dict)
    return cast("dict[str, Any]", parsed)


def items(response: httpx2.Response) -> list[dict[str, Any]]:
    data = body(response)["data"]
    assert isinstance(data, list)
    return cast("list[dict[str, Any]]", data)


def obj(response: httpx2.Response) -> dict[str, Any]:
    data = body(response)["data"]
    assert isinstance(data, dict)
    return cast("dict[str, Any]", data)


def meta(response: httpx2.Response) -> dict[str, Any]:
    value = body(response)["meta"]
    assert isinstance(value, dict)
    return cast("dict[str, Any]", value)


def calls_path(agent_id: str, call_id: str | None = None) -> str:
    return f"/agents/{agent_id}/calls" + (f"/{call_id}" if call_id else "")


async def all_calls(client: httpx2.AsyncClient, agent_id: str, **params: str | int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await client.get(calls_path(agent_id), params={**params, "page": page, "limit": 100})
        assert response.status_code == 200
        out.extend(items(response))
        if not meta(response)["has_next_page"]:
            return out
        page += 1


class Planted(httpx2.AsyncBaseTransport):
    """The sandbox, with one more caller turn per text at the end of every transcript it returns: speech a test
    controls, as an attacker would plant it."""

    def __init__(self, sandbox: Sandbox, said: list[str]) -> None:
        self.inner = sandbox.transport()
        self.said = said

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or not re.search(r"/calls/[^/]+$", request.url.path):
            return response
        body = json.loads(await response.aread())
        body["data"]["conversation_logs"] += [{"role": "user", "message": s} for s in self.said]
        return httpx2.Response(response.status_code, json=body)
