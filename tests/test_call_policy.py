"""The operator's policy for place_call, through the MCP client: numbers never rung, destination lists, budgets
and quiet hours on a controlled clock, and settings that fail at start-up with one line naming the variable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client

from bimpe_mcp.cli.doctor import settings_env
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.core.settings import ConfigError, Settings
from bimpe_mcp.core.state import DAY, Admission, open_store
from bimpe_mcp.policy.budget import limits, reached
from bimpe_mcp.policy.decision import Call, CallRequest
from bimpe_mcp.policy.gate import Policy
from bimpe_mcp.policy.numbers import read_number
from bimpe_mcp.policy.quiet import quiet_until
from bimpe_mcp.sandbox import Sandbox
from tests.conftest import NOON, SandboxTime, ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

US = "+14155550100"
NG = "+2348031234567"
GB = "+447400900123"


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


async def place(client: Client, destination: str, **more: Any) -> Any:
    return await client.call_tool("place_call", {"destination": destination, **more})


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("+19005550100", "premium_rate"),
        ("+33884012345", "shared_cost"),
        ("+15551234567", "invalid_number"),
        ("+449990000", "emergency_number"),
        ("+19110000", "emergency_number"),
    ],
)
async def test_numbers_of_a_kind_never_rung_are_refused_whatever_the_settings(
    make_server: ServerFactory, sandbox: Sandbox, number: str, rule: str
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="off")) as client:
        for is_test_call in (True, False):
            info = error(await place(client, number, is_test_call=is_test_call))
            assert (info["code"], info["rule"], info["retryable"]) == ("policy_refused", rule, False)
            assert info["setting"] is None if "setting" in info else True
            assert "retry_at" not in info and "always refused" in info["message"]
    assert posts(sandbox) == 0


async def test_a_premium_rate_refusal_reads_as_one_for_a_model(client: Client, sandbox: Sandbox) -> None:
    result = await place(client, "+19005550100")
    body = text(result)
    assert body.startswith("policy_refused: +19005550100 is a premium-rate number")
    assert "Retrying the same call will not help." in body and posts(sandbox) == 0


async def test_a_blocked_country_code_or_number_is_refused_and_others_are_placed(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(blocked_destinations=("+234", US))) as client:
        for number in (NG, US):
            info = error(await place(client, number))
            assert (info["rule"], info["setting"], info["retryable"]) == (
                "blocked_destination",
                "BIMPE_BLOCKED_DESTINATIONS",
                False,
            )
        assert data(await place(client, GB))["status"] == "initiated"
    assert posts(sandbox) == 1


async def test_an_allow_list_admits_its_numbers_and_country_codes_only(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allowed_destinations=Settings.from_env({"X": ""}).allowed_destinations)) as c:
        assert data(await place(c, GB))["status"] == "initiated", "no list: every valid number"
    settings = Settings.from_env({"BIMPE_ALLOWED_DESTINATIONS": f" +44 , {US}"})
    assert settings.allowed_destinations == ("+44", US)
    async with Client(make_server(allowed_destinations=settings.allowed_destinations)) as client:
        assert data(await place(client, US))["status"] == "initiated"
        assert data(await place(client, "+447400900124"))["status"] in {"initiated", "busy"}
        info = error(await place(client, NG))
        assert (info["rule"], info["setting"]) == ("allowed_destinations", "BIMPE_ALLOWED_DESTINATIONS")
        assert "+44" in info["message"] and not info["retryable"]
        listed = await client.list_tools()
        (tool,) = [t for t in listed.tools if t.name == "place_call"]
        assert f"only +44, {US} may be called" in (tool.description or "")
    assert posts(sandbox) == 3


async def test_an_hourly_test_call_budget_refuses_until_the_hour_has_passed(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    sandbox_time.start = NOON
    async with Client(make_server(max_test_calls_per_hour=2, max_test_calls_per_day=3)) as client:
        first = data(await place(client, US))
        sandbox_time.now += 600
        data(await place(client, GB))
        again = data(await place(client, US, idempotency_key=first["idempotency_key"]))
        assert again["replayed"] is True, "a repeat of a counted call is not a new call"
        info = error(await place(client, NG))
        assert (info["rule"], info["setting"], info["retryable"]) == (
            "hourly_budget",
            "BIMPE_MAX_TEST_CALLS_PER_HOUR",
            True,
        )
        assert info["retry_at"] == "2026-12-02T13:00Z" and "Retry at 2026-12-02T13:00Z." in text(
            await place(client, NG)
        )
        sandbox_time.now += 3000
        data(await place(client, NG))
        sandbox_time.now += 3600
        info = error(await place(client, "+2348031234568"))
        assert (info["rule"], info["setting"]) == ("daily_budget", "BIMPE_MAX_TEST_CALLS_PER_DAY")
        assert info["retry_at"] == "2026-12-03T12:00Z"
    assert posts(sandbox) == 3


async def test_a_live_budget_of_zero_refuses_every_live_call_for_good(make_server: ServerFactory) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="off", max_live_calls_per_day=0)) as client:
        info = error(await place(client, US, is_test_call=False))
        assert (info["rule"], info["setting"], info["retryable"]) == (
            "daily_budget",
            "BIMPE_MAX_LIVE_CALLS_PER_DAY",
            False,
        )
        assert data(await place(client, US))["status"] == "initiated", "test calls have their own budget"


async def test_quiet_hours_hold_live_calls_in_the_destinations_local_time(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    sandbox_time.start = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 22:00 in San Francisco, 07:00 in Lagos
    async with Client(make_server(allow_live_calls=True, confirm="off", quiet_hours="21:00-08:00")) as client:
        info = error(await place(client, US, is_test_call=False))
        assert (info["rule"], info["setting"], info["retryable"]) == ("quiet_hours", "BIMPE_QUIET_HOURS", True)
        assert info["retry_at"] == "2026-12-02T16:00Z", "08:00 in San Francisco"
        assert error(await place(client, NG, is_test_call=False))["retry_at"] == "2026-12-02T07:00Z"
        assert data(await place(client, US))["status"] == "initiated", "quiet hours hold live calls only"
        sandbox_time.now += 10 * 3600
        assert data(await place(client, US, is_test_call=False))["status"] == "initiated"
    assert posts(sandbox) == 2


def test_quiet_hours_within_one_day_and_in_several_zones() -> None:
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert quiet_until((datetime(1, 1, 1, 12).time(), datetime(1, 1, 1, 13).time()), (), noon) == noon.replace(hour=13)
    assert quiet_until((datetime(1, 1, 1, 13).time(), datetime(1, 1, 1, 14).time()), (), noon) is None
    zones = read_number("+12125550100").zones + read_number(US).zones
    early = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)  # 07:30 in New York, 04:30 in San Francisco
    window = (datetime(1, 1, 1, 21).time(), datetime(1, 1, 1, 8).time())
    assert quiet_until(window, zones, early) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC), "the last zone to wake"


async def test_a_budget_counts_each_key_once_per_agent_and_forgets_calls_older_than_a_day() -> None:
    store, budget = open_store("memory://"), limits(None, 1)
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    at = noon.timestamp()
    assert await store.admit(Admission("agt_1", "k1", "test", "f", at, budget)) is None
    assert await store.admit(Admission("agt_1", "k1", "test", "f", at + 60, budget)) is None, "the same dial"
    assert await store.admit(Admission("agt_2", "k1", "test", "g", at, budget)) == ("budget", "day")
    assert reached(await store.times("test", at - DAY), noon, budget) == ("day", datetime(2026, 12, 3, 12, tzinfo=UTC))
    assert await store.admit(Admission("agt_2", "k1", "test", "g", at + DAY, budget)) is None
    assert reached(await store.times("test", at), noon, limits(0, None)) == ("hour", None), "a limit of 0: never"
    await store.aclose()


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("BIMPE_QUIET_HOURS", "25:00-08:00", "BIMPE_QUIET_HOURS: has a time that does not exist"),
        ("BIMPE_QUIET_HOURS", "9pm-8am", "BIMPE_QUIET_HOURS: must be HH:MM-HH:MM"),
        ("BIMPE_QUIET_HOURS", "08:00-08:00", "BIMPE_QUIET_HOURS: starts and ends at the same time"),
        ("BIMPE_ALLOWED_DESTINATIONS", "+234,+1415555", "BIMPE_ALLOWED_DESTINATIONS: '+1415555' is neither"),
        ("BIMPE_BLOCKED_DESTINATIONS", "2348031234567", "BIMPE_BLOCKED_DESTINATIONS: '2348031234567' is neither"),
        ("BIMPE_BLOCKED_DESTINATIONS", "+999", "BIMPE_BLOCKED_DESTINATIONS: '+999' is neither"),
        ("BIMPE_ALLOWED_DESTINATIONS", " , ", "BIMPE_ALLOWED_DESTINATIONS: lists no number"),
        ("BIMPE_MAX_LIVE_CALLS_PER_HOUR", "-1", "BIMPE_MAX_LIVE_CALLS_PER_HOUR: must be"),
        ("BIMPE_CONFIRM", "sometimes", "BIMPE_CONFIRM: must be auto, elicit, app, token or off (got 'sometimes')"),
        ("BIMPE_CONFIRM_SECRET", "short", "BIMPE_CONFIRM_SECRET: must be at least 16 characters"),
        ("BIMPE_REDACT", "maybe", "BIMPE_REDACT: must be true or false"),
    ],
)
def test_a_bad_policy_setting_is_one_line_naming_its_variable(var: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({var: value})
    message = str(caught.value)
    assert message.startswith(says) and "\n" not in message
    if var == "BIMPE_CONFIRM_SECRET":
        assert value not in message


def test_policy_settings_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "BIMPE_BLOCKED_DESTINATIONS": "+1 415 555 0100",
            "BIMPE_QUIET_HOURS": "21:00-08:00",
            "BIMPE_CONFIRM": "TOKEN",
            "BIMPE_CONFIRM_TEST_CALLS": "yes",
            "BIMPE_MAX_TEST_CALLS_PER_DAY": "40",
            "BIMPE_REDACT": "on",
        }
    )
    assert settings.blocked_destinations == (US,) and settings.confirm == "token"
    assert settings.confirm_test_calls and settings.redact and settings.max_test_calls_per_day == 40


async def test_the_instructions_state_the_active_policy(make_server: ServerFactory) -> None:
    async with Client(make_server()) as client:
        plain = client.instructions or ""
    async with Client(make_server(confirm="token", confirm_test_calls=True, quiet_hours="21:00-08:00")) as client:
        strict = client.instructions or ""
    assert "always refused" in plain and "User confirmation: auto (live calls)." in plain
    assert "Operator policy" not in plain
    assert "User confirmation: token (live and test calls)." in strict
    assert "no live calls 21:00-08:00 destination time" in strict
    async with Client(make_server(confirm="off", max_live_calls_per_hour=3, blocked_destinations=("+234",))) as c:
        off = c.instructions or ""
    assert "User confirmation: not asked." in off and "at most 3 live calls/hour" in off and "+234 blocked" in off
    assert "no confirmation is asked" in off and "test calls need the user's confirmation too" in strict


def test_unreadable_numbers_are_invalid_and_the_servers_clock_is_utc() -> None:
    assert read_number("+").refused_as == "invalid"
    assert read_number(US).display == "+1 415-555-0100 (United States)" and read_number(US).refused_as is None
    assert Clock().wall().tzinfo is UTC
    assert Settings(quiet_hours=None).quiet_hours is None


async def test_a_retry_of_a_confirmed_call_under_its_key_is_not_asked_again_and_a_result_is_tied_to_its_call() -> None:
    policy = Policy(Settings(confirm_test_calls=True, state_url="memory://"), Clock())
    call = Call("agt_1", read_number(US), True)
    result = PlacedCall(
        status="initiated", agent_id="agt_1", destination=US, is_test_call=True, idempotency_key="key-0", next_step="-"
    )

    def asking(call: Call) -> CallRequest:
        return CallRequest(call.agent, call.dest.e164, True, "key-0", can_elicit=True)

    assert await policy.route(call, asking(call)) == "elicit"
    assert await policy.store.admit(Admission("agt_1", "key-0", "test", call.fingerprint, 0.0)) is None
    await policy.store.keep("agt_1", "key-0", call.fingerprint, result.model_dump_json(), 0.0)
    assert await policy.route(call, asking(call)) == "none", "a retry of a confirmed call"
    other = Call("agt_1", read_number(NG), True)
    assert await policy.route(other, asking(other)) == "elicit", "another call under the same key"
    assert await policy.replay("agt_1", "key-0", call.fingerprint) == result
    assert await policy.replay("agt_1", "key-0", other.fingerprint) is None
    assert await policy.replay("agt_2", "key-0", call.fingerprint) is None, "each agent has its own keys"


def test_client_configurations_carry_policy_settings_as_the_environment_reads_them_and_never_the_secret() -> None:
    settings = Settings.from_env(
        {
            "BIMPE_ALLOWED_DESTINATIONS": "+234,+44",
            "BIMPE_QUIET_HOURS": "21:00-08:00",
            "BIMPE_CONFIRM_SECRET": "a-secret-of-twenty-chars",
            "BIMPE_REDACT": "true",
        }
    )
    env = settings_env(settings)
    assert env == {"BIMPE_ALLOWED_DESTINATIONS": "+234,+44", "BIMPE_QUIET_HOURS": "21:00-08:00", "BIMPE_REDACT": "true"}
    assert Settings.from_env(env).allowed_destinations == settings.allowed_destinations
