from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stamina
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from bimpe_mcp.tools.state import AppState
from tests.served import StandaloneSandbox
from tests.support import assert_no_secret

_TESTS = Path(__file__).parent.resolve()
_DESELECTED = pytest.StashKey[int]()
_GATE_OFF = pytest.StashKey[bool]()


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    config = items[0].config if items else None
    if config is not None:
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + len(items)


def _runs_every_test(config: pytest.Config) -> bool:
    """Whether the session runs the whole suite: the tests folder named (or the configured testpaths), nothing
    deselected (-k, -m, --lf)."""
    base = config.rootpath if config.args_source == pytest.Config.ArgsSource.TESTPATHS else config.invocation_params.dir
    named = {(base / arg.split("::")[0]).resolve() for arg in config.args}
    return named == {_TESTS} and not config.stash.get(_DESELECTED, 0)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The coverage gate (fail_under in pyproject.toml) measures the whole suite: a run of some tests passes or fails
    on those tests alone. A --cov-fail-under given on the command line always applies."""
    config = session.config
    cov: Any = config.pluginmanager.getplugin("_cov")
    explicit = any(arg.startswith("--cov-fail-under") for arg in config.invocation_params.args)
    if cov is not None and not cov.options.no_cov and not explicit and not _runs_every_test(config):
        cov.options.cov_fail_under = None
        config.stash[_GATE_OFF] = True


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.stash.get(_GATE_OFF, False):
        terminalreporter.write_line("coverage: part of the suite ran, so its fail-under gate was not applied")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logs captured, and no API key may appear in any of them."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert_no_secret(record.getMessage() + str(record.args or ""))


@pytest.fixture(autouse=True)
def own_state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's state (the default SQLite file of budgets, confirmations and replays) in a directory of its own,
    for the server it builds and the processes it starts: never the user's own, never another test's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries keep their attempt counts but never wait: time in tests is controlled, not slept.

    tests/test_retry_waits.py replaces this fixture: there the waits are kept and measured on virtual time."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox with a frozen clock (speed 0): tests move time with `sandbox.clock.advance(...)`."""
    return Sandbox(SandboxConfig(seed=7, speed=0.0))


# A wall-clock time a test may put the server at (`sandbox_time.start = NOON`) to read times it can name.
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class SandboxTime(Clock):
    """The server's clock in tests: a sleep moves the sandbox's clock forward instead of waiting."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.now = 0.0
        self.slept: list[float] = []
        # Wall-clock time at `now == 0` if a test sets it to put the server at a chosen hour; else the sandbox's.
        self.start: datetime | None = None

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.sandbox.clock.advance(seconds)

    def wall(self) -> datetime:
        """The sandbox's date and time, so that `today` is the sandbox's today (unless a test chose a start)."""
        if self.start is not None:
            return self.start + timedelta(seconds=self.now)
        return self.sandbox.clock.now()


@pytest.fixture(scope="module")
def standalone() -> Iterator[StandaloneSandbox]:
    """The sandbox as a process of its own (bimpe-mcp sandbox), for the servers a module starts as processes."""
    box = StandaloneSandbox()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def sandbox_time(sandbox: Sandbox) -> SandboxTime:
    return SandboxTime(sandbox)


ServerFactory = Callable[..., MCPServer[AppState]]


@pytest.fixture
def make_server(sandbox: Sandbox, sandbox_time: SandboxTime) -> ServerFactory:
    """Build a server on the in-process sandbox; keyword arguments override settings (api_key takes a str)."""

    def factory(**overrides: Any) -> MCPServer[AppState]:
        values: dict[str, Any] = {
            "api_key": sandbox.keys.full,
            "base_url": sandbox.origin,
            "agent_id": sandbox.agents.live,
        }
        values.update(overrides)
        if isinstance(values.get("api_key"), str):
            values["api_key"] = SecretStr(values["api_key"])
        return build_server(Settings(**values), transport=sandbox.transport(), clock=sandbox_time)

    return factory


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: auto speaks 2026-07-28 in-process; legacy forces the 2025-11-25 handshake."""
    return str(request.param)


@pytest.fixture
async def client(make_server: ServerFactory) -> AsyncIterator[Client]:
    """A client on the modern era (2026-07-28), for behaviour that does not depend on the protocol era."""
    async with Client(make_server()) as c:
        yield c


@pytest.fixture
async def client_both(make_server: ServerFactory, mode: str) -> AsyncIterator[Client]:
    """A client on each protocol era in turn, for what the eras carry differently (handshake, progress,
    resources, prompts, error shapes) and for the first use of each tool."""
    async with Client(make_server(), mode=mode) as c:  # pyright: ignore[reportArgumentType]
        yield c
