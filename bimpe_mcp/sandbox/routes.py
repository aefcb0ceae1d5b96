"""The Console API's routes, as Starlette routes: method, path under the API prefix, endpoint name, handler.

The request pipeline resolves a path with these routes itself rather than letting Starlette dispatch it,
because faults, the rate limit and the request log apply before it is known whether a route matched.
"""

from __future__ import annotations

from starlette.routing import Match, Route

from . import handlers
from .handlers import Handler


class ApiRoute(Route):
    """One method on one path; `name` is the endpoint name that scopes and the request log use."""

    def __init__(self, method: str, path: str, name: str, handler: Handler) -> None:
        super().__init__(path, handler, methods=[method], name=name)
        self.handler = handler
        # Starlette also lets HEAD through wherever GET is allowed; the Console API does not.
        self.methods = {method}


API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/agents", "agents.list", handlers.list_agents),
    ApiRoute("GET", "/agents/{agent_id}", "agents.retrieve", handlers.retrieve_agent),
    ApiRoute("GET", "/agents/{agent_id}/channels", "agents.channels", handlers.list_channels),
    ApiRoute("GET", "/agents/{agent_id}/calls", "calls.list", handlers.list_calls),
    ApiRoute("POST", "/agents/{agent_id}/calls", "calls.make", handlers.place_call),
    ApiRoute("GET", "/agents/{agent_id}/calls/{call_id}", "calls.retrieve", handlers.retrieve_call),
    ApiRoute("GET", "/phone-numbers", "phone_numbers.list", handlers.list_phone_numbers),
    ApiRoute("GET", "/phone-numbers/{number_id}", "phone_numbers.retrieve", handlers.retrieve_phone_number),
    ApiRoute("PATCH", "/phone-numbers/{number_id}", "phone_numbers.update", handlers.update_phone_number),
)


def resolve(method: str, path: str) -> tuple[ApiRoute | None, dict[str, str], bool]:
    """(the route, its path parameters, whether any route has this path): a known path with another method
    is a 405, an unknown one a 404."""
    scope = {"type": "http", "method": method, "path": path}
    path_known = False
    for route in API_ROUTES:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            return route, child_scope["path_params"], True
        path_known = path_known or match is Match.PARTIAL
    return None, {}, path_known
