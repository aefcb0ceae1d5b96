"""Reading the API a few requests at a time: several reads at once, and a list's pages walked from the first."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from bimpe_mcp.api.errors import BimpeError
from bimpe_mcp.api.wire import WirePage

CONCURRENCY = 4
"""Requests one reader keeps in flight to the API at most."""

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


async def read_each(
    read: Callable[[K], Awaitable[V]], keys: Sequence[K], *, deadline: float = math.inf
) -> dict[K, V | BimpeError]:
    """`read` of every key, at most CONCURRENCY at a time, in the keys' order: a read that fails gives its failure.
    Reads still running at `deadline` (anyio's clock) are cancelled and left out."""
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    found: dict[K, V | BimpeError] = {}

    async def one(key: K) -> None:
        async with limiter:
            try:
                found[key] = await read(key)
            except BimpeError as exc:
                found[key] = exc

    with anyio.CancelScope(deadline=deadline):
        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(one, key)
    return {key: found[key] for key in keys if key in found}


async def read_pages(
    fetch: Callable[[int], Awaitable[WirePage[T]]],
    numbers: range,
    *,
    deadline: float = math.inf,
    partial: bool = False,
) -> list[WirePage[T]]:
    """Pages read together, in page order. A failed page raises its failure as itself (the first in page order),
    not as a group; with `partial`, pages that failed or were not read by `deadline` are left out instead."""
    pages: list[WirePage[T]] = []
    for outcome in (await read_each(fetch, numbers, deadline=deadline)).values():
        if isinstance(outcome, BimpeError):
            if partial:
                continue
            raise outcome
        pages.append(outcome)
    return pages


async def walk_pages(
    fetch: Callable[[int], Awaitable[WirePage[T]]],
    take: Callable[[list[WirePage[T]]], int],
    *,
    max_pages: int,
    deadline: float = math.inf,
    partial: bool = False,
) -> None:
    """Pages from the first on, a batch at a time (its pages read together, as `read_pages` reads them): `take`
    gets each batch and answers how many pages the next one reads, 0 to stop. A batch never reads past `max_pages`,
    nor more than one page past the last page the API counted."""
    next_page = 1
    page_count = 1
    width = 1
    while width > 0 and next_page <= max_pages:
        last = min(next_page + width - 1, max_pages, max(page_count, next_page))
        pages = await read_pages(fetch, range(next_page, last + 1), deadline=deadline, partial=partial)
        page_count = _counted(page_count, pages)
        width = take(pages)
        next_page = last + 1


def _counted(known: int, pages: list[WirePage[T]]) -> int:
    """The most pages the API has said the list has."""
    return max([known, *(page.meta.page_count for page in pages)])
