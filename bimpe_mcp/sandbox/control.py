"""The control routes under /_sandbox: health, the sandbox's description, faults, the clock and the request log.
They need no key: the sandbox serves on loopback only."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .clock import SandboxClock, iso_ms
from .config import Fault
from .faults import FaultSet
from .pipeline import RecordedRequest


@dataclass(frozen=True)
class Control:
    clock: SandboxClock
    faults: FaultSet
    requests: list[RecordedRequest]
    describe: Callable[[], dict[str, Any]]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": iso_ms(self.clock.now_ms())})

    async def info(self, request: Request) -> Response:
        return JSONResponse(self.describe())

    async def faults_route(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            try:
                raw = await request.json()
                if not isinstance(raw, dict):
                    raise TypeError("a fault is a JSON object")
                self.faults.add(Fault(**cast("dict[str, Any]", raw)))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": str(exc)}, status_code=400)
            return JSONResponse(self._active_faults(), status_code=201)
        return JSONResponse(self._active_faults())

    def _active_faults(self) -> dict[str, Any]:
        return {"faults": [asdict(f) for f in self.faults.active]}

    async def clock_route(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                raw = await request.json()
                seconds = float(cast("dict[str, Any]", raw)["seconds"]) if isinstance(raw, dict) else math.nan
                self.clock.advance(seconds)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"message": f'send {{"seconds": <number >= 0>}} ({exc})'}, status_code=400)
        return JSONResponse({"now": iso_ms(self.clock.now_ms()), "speed": self.clock.speed})

    async def requests_route(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
        return JSONResponse({"requests": [asdict(r) for r in self.requests]})
