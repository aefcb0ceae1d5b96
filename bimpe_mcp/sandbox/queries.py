"""Query strings of the list endpoints: page, limit, search and sort, and the calls list's filters.

Each reader adds what is wrong to a shared list of problems, so that one 400 reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from .errors import Problems
from .records import STATUS_CODE, STATUSES


@dataclass(frozen=True)
class ListQuery:
    page: int
    limit: int
    search: str | None
    sort_field: str
    descending: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def list_query(
    query: QueryParams, fields: Sequence[str], default_sort: str, reject_unknown_sort: bool, problems: Problems
) -> ListQuery:
    page = _int_param(query.get("page"), "page", 1, 1, None, problems)
    limit = _int_param(query.get("limit"), "limit", 20, 1, 100, problems)
    search = query.get("search")
    if search is not None and len(search) > 255:
        problems.append(("search", "must be at most 255 characters"))
    sort = (query.get("sort") or "").strip()
    field, descending = default_sort, True
    if sort:
        name = sort[1:] if sort.startswith("-") else sort
        if len(sort) > 64 or name not in fields:
            if reject_unknown_sort:
                problems.append(("sort", f"must be one of {', '.join(fields)}, optionally prefixed with -"))
        else:
            field, descending = name, sort.startswith("-")
    return ListQuery(page, limit, search.strip() if search and search.strip() else None, field, descending)


def call_filters(query: QueryParams, problems: Problems) -> tuple[int | None, bool | None]:
    """The calls list's `status` (as a status code) and `is_test_call`; None where not given."""
    status_raw = query.get("status")
    status: int | None = None
    if status_raw is not None and status_raw != "":
        if status_raw not in STATUS_CODE:
            problems.append(("status", f"must be one of {', '.join(STATUSES)}"))
        else:
            status = STATUS_CODE[status_raw]
    test_raw = query.get("is_test_call")
    is_test: bool | None = None
    if test_raw is not None and test_raw != "":
        if test_raw.lower() not in ("true", "false"):
            problems.append(("is_test_call", "must be a boolean (true or false)"))
        else:
            is_test = test_raw.lower() == "true"
    return status, is_test


def _int_param(raw: str | None, name: str, default: int, low: int, high: int | None, problems: Problems) -> int:
    if raw is None:
        return default
    text = raw.strip()
    message = f"must be an integer between {low} and {high}" if high is not None else f"must be an integer >= {low}"
    if not re.fullmatch(r"[+-]?\d{1,12}", text):
        problems.append((name, message))
        return default
    value = int(text)
    if value < low or (high is not None and value > high):
        problems.append((name, message))
        return default
    return value
