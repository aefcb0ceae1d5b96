"""The Console API endpoints. Each takes one `ApiRequest`, already authenticated and authorised, and returns
the status and JSON body of a success, or raises `SandboxApiError`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from starlette.datastructures import QueryParams

from .clock import SandboxClock
from .config import SandboxConfig
from .errors import Problems, SandboxApiError, not_found, validation_error
from .keys import ApiKey
from .models import ID_PATTERN, PhoneNumberUpdateBody, PlaceCallBody
from .queries import ListQuery, call_filters, list_query
from .records import AgentRecord, PhoneNumber
from .store import CALL_SORT_FIELDS, CallQuery, World

_ID_RE = re.compile(ID_PATTERN)
_T = TypeVar("_T")

AGENT_SORT_KEYS: dict[str, Callable[[AgentRecord], Any]] = {
    "created_at": lambda a: a.created_ms,
    "updated_at": lambda a: a.updated_ms,
    "name": lambda a: a.seed.name.lower(),
}
PHONE_SORT_KEYS: dict[str, Callable[[PhoneNumber], Any]] = {
    "created_at": lambda p: p.created_ms,
    "updated_at": lambda p: p.updated_ms,
    "e164": lambda p: p.e164,
    "label": lambda p: (p.label or "").lower(),
}


@dataclass(frozen=True)
class ApiRequest:
    """What an endpoint reads: the caller's key, path parameters, query and raw body, and the sandbox state."""

    key: ApiKey
    params: Mapping[str, str]
    query: QueryParams
    body: bytes
    world: World
    clock: SandboxClock
    config: SandboxConfig

    def list_query(self, fields: Sequence[str], default_sort: str, problems: Problems) -> ListQuery:
        return list_query(self.query, fields, default_sort, self.config.reject_unknown_sort, problems)

    def agent(self, agent_id: str) -> AgentRecord:
        """An agent of the caller's team; a malformed id is as unknown as another team's."""
        agent = self.world.agent(self.key.team, agent_id) if _ID_RE.match(agent_id) else None
        if agent is None:
            raise not_found("Agent not found")
        return agent

    def phone_number(self) -> PhoneNumber:
        number = self.world.phone_number(self.key.team, self.params["number_id"])
        if number is None:
            raise not_found("Phone number not found")
        return number


class Answer(NamedTuple):
    status: int
    body: dict[str, Any]


Handler = Callable[[ApiRequest], Answer]


def envelope(data: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"message": "Success", "data": data}
    if meta is not None:
        out["meta"] = meta
    return out


def page_meta(total: int, page: int, limit: int) -> dict[str, Any]:
    page_count = math.ceil(total / limit) if total else 0
    return {
        "total_count": total,
        "page_count": page_count,
        "current_page": page,
        "limit": limit,
        "has_next_page": page < page_count,
        "has_previous_page": page > 1,
    }


def _page(items: list[_T], lq: ListQuery, to_json: Callable[[_T], dict[str, Any]]) -> Answer:
    data = [to_json(item) for item in items[lq.offset : lq.offset + lq.limit]]
    return Answer(200, envelope(data, page_meta(len(items), lq.page, lq.limit)))


def _listed(
    req: ApiRequest, items: list[_T], sort_keys: Mapping[str, Callable[[_T], Any]], matches: Callable[[_T, str], bool]
) -> tuple[ListQuery, list[_T]]:
    """The items that match the query's search (lowercased), in its order, or a 400 for a bad query."""
    problems: Problems = []
    lq = req.list_query(tuple(sort_keys), "created_at", problems)
    if problems:
        raise validation_error(problems)
    if lq.search:
        needle = lq.search.lower()
        items = [item for item in items if matches(item, needle)]
    return lq, sorted(items, key=sort_keys[lq.sort_field], reverse=lq.descending)


def _agent_matches(agent: AgentRecord, needle: str) -> bool:
    s = agent.seed
    return needle in s.name.lower() or needle in s.description.lower() or needle in s.business_name.lower()


def _number_matches(number: PhoneNumber, needle: str) -> bool:
    digits = "".join(ch for ch in needle if ch.isdigit())
    return bool(needle in number.e164 or (digits and digits in number.e164) or needle in (number.label or "").lower())


def list_agents(req: ApiRequest) -> Answer:
    lq, agents = _listed(req, req.world.team_agents(req.key.team), AGENT_SORT_KEYS, _agent_matches)
    return _page(agents, lq, AgentRecord.to_json)


def retrieve_agent(req: ApiRequest) -> Answer:
    return Answer(200, envelope(req.world.agent_detail(req.agent(req.params["agent_id"]))))


def list_channels(req: ApiRequest) -> Answer:
    return Answer(200, envelope(req.world.channels(req.agent(req.params["agent_id"]))))


def list_calls(req: ApiRequest) -> Answer:
    problems: Problems = []
    lq = req.list_query(tuple(CALL_SORT_FIELDS), "created_on", problems)
    status, is_test = call_filters(req.query, problems)
    if problems:
        raise validation_error(problems)
    agent = req.agent(req.params["agent_id"])
    q = CallQuery(CALL_SORT_FIELDS[lq.sort_field], lq.descending, status, is_test, lq.search)
    world = req.world
    total, rows = world.list_calls(agent.index, q, lq.offset, lq.limit, req.clock.now_ms())
    return Answer(200, envelope([world.call_json(r) for r in rows], page_meta(total, lq.page, lq.limit)))


def retrieve_call(req: ApiRequest) -> Answer:
    agent = req.agent(req.params["agent_id"])
    world = req.world
    ordinal = world.ordinal_of(req.params["call_id"])
    if ordinal is None:
        raise not_found("Call not found")
    row = world.row(ordinal, req.clock.now_ms())
    if row.agent_index != agent.index:
        raise not_found("Call not found")
    return Answer(200, envelope(world.call_detail_json(row)))


def place_call(req: ApiRequest) -> Answer:
    body = PlaceCallBody.parse(req.body)
    agent = req.agent(req.params["agent_id"])
    config, world = req.config, req.world
    if config.paused_agent_blocks_calls and agent.status == "paused":
        raise SandboxApiError(400, "bad_request", "agent is paused; calls are disabled until it is live again")
    if not body.is_test_call and not world.has_live_channel(agent):
        raise SandboxApiError(400, "channel_not_configured", "telephony channel is not configured for this agent")
    now_ms = req.clock.now_ms()
    capacity = config.test_call_capacity
    if body.is_test_call and world.active_test_calls(agent.team, now_ms) >= capacity:
        detail = f"test call capacity reached ({capacity} concurrent test calls); try again later"
        return Answer(201, envelope({"status": "busy", "call_id": None, "detail": detail}))
    call = world.place_call(agent, body.destination, body.is_test_call, now_ms)
    call_id = world.call_id(call.ordinal)
    if call.script == "failed":
        return Answer(201, envelope({"status": "failed", "call_id": call_id, "detail": "destination unreachable"}))
    return Answer(201, envelope({"status": "initiated", "call_id": call_id, "detail": None}))


def list_phone_numbers(req: ApiRequest) -> Answer:
    lq, numbers = _listed(req, req.world.team_phone_numbers(req.key.team), PHONE_SORT_KEYS, _number_matches)
    if lq.sort_field == "label":
        numbers.sort(key=lambda p: p.label is None)  # numbers without a label last, in both directions
    return _page(numbers, lq, lambda p: p.to_json(detail=False))


def retrieve_phone_number(req: ApiRequest) -> Answer:
    return Answer(200, envelope(req.phone_number().to_json()))


def update_phone_number(req: ApiRequest) -> Answer:
    body = PhoneNumberUpdateBody.parse(req.body)
    number = req.phone_number()
    if "agent_id" in body.model_fields_set:
        number.agent_id = None if body.agent_id is None else req.agent(body.agent_id).id
    if "label" in body.model_fields_set:
        number.label = body.label
    number.updated_ms = req.clock.now_ms()
    return Answer(200, envelope(number.to_json()))
