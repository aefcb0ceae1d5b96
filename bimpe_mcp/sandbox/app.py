"""The sandbox's ASGI app: the Console API mounted under /api/v1/console, the control routes under /_sandbox."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from .control import Control

API_PREFIX = "/api/v1/console"
CONTROL_PREFIX = "/_sandbox"


def build_app(api: ASGIApp, control: Control) -> Starlette:
    """`api` answers every path under the prefix: it resolves the API's own routes (see `routes.py`)."""
    return Starlette(
        routes=[
            Mount(API_PREFIX, app=api),
            Route(CONTROL_PREFIX + "/health", control.health),
            Route(CONTROL_PREFIX + "/info", control.info),
            Route(CONTROL_PREFIX + "/faults", control.faults_route, methods=["GET", "POST", "DELETE"]),
            Route(CONTROL_PREFIX + "/clock", control.clock_route, methods=["GET"]),
            Route(CONTROL_PREFIX + "/clock/advance", control.clock_route, methods=["POST"]),
            Route(CONTROL_PREFIX + "/requests", control.requests_route, methods=["GET", "DELETE"]),
        ]
    )
