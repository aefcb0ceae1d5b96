"""Each setting is declared once, on its field: its variable, its flag and its help, the words of its errors, the
bundle's user_config and environment, server.json's variables and the README's table all agree with that declaration.
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest

from bimpe_mcp.cli.flags import settings_from
from bimpe_mcp.cli.main import UsageError, build_parsers, parse
from bimpe_mcp.core.settings import (
    BOOLEAN_FIELDS,
    ENV_VARS,
    SECRET_FIELDS,
    SETTINGS,
    ConfigError,
    Settings,
    accepts,
    choices,
    env_text,
)
from tests.dist_support import ROOT

MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
(PACKAGE,) = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))["packages"]
# Values of the free-form settings; booleans, words and numbers take a value read from their type.
FREE_FORM = {
    "api_key": "sk_test_5b8e2c0d9a4f7e1c",
    "base_url": "https://api.example.test",
    "agent_id": "agent_sample_1",
    "http_tokens_file": "/srv/bimpe/tokens",
    "http_public_url": "https://mcp.example.test/mcp",
    "oauth_issuer": "https://login.example.test/realms/team",
    "oauth_jwks_url": "https://login.example.test/realms/team/certs",
    "oauth_audience": "https://mcp.example.test",
    "http_allowed_hosts": "mcp.example.test",
    "http_allowed_origins": "https://app.example.test",
    "http_rate_limit": "120/min",
    "allowed_destinations": "+234,+44",
    "blocked_destinations": "+1",
    "quiet_hours": "21:00-08:00",
    "confirm_secret": "a-shared-secret-of-the-replicas",
    "audit_log": "/var/log/bimpe/audit.jsonl",
    "state_url": "redis://127.0.0.1:6379/0",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def limit(field: str, name: str) -> float | None:
    rules = Settings.model_fields[field].metadata
    return next((getattr(rule, name) for rule in rules if getattr(rule, name, None) is not None), None)


def sample(field: str) -> str:
    """A valid value of a setting, as its variable or flag takes it, other than its default."""
    if field in FREE_FORM:
        return FREE_FORM[field]
    if field in BOOLEAN_FIELDS:
        return "true"
    if choices(field):
        return choices(field)[-1]
    return str(limit(field, "le"))


def expected(field: str) -> Settings:
    extra: dict[str, object] = {"sandbox": True} if field == "sandbox_speed" else {}
    return Settings.model_validate({field: sample(field), **extra})


def test_every_field_is_declared_and_every_value_has_a_sample() -> None:
    assert list(SETTINGS) == list(Settings.model_fields)
    assert list(ENV_VARS.values()) == list(Settings.model_fields)
    assert all(var.startswith("BIMPE_") for var in ENV_VARS)
    for field in SETTINGS:
        assert expected(field) != Settings(), f"the sample of {field} differs from its default"


@pytest.mark.parametrize("field", list(SETTINGS))
def test_each_variable_reaches_its_own_field(field: str) -> None:
    env = {SETTINGS[field].env: sample(field)}
    assert Settings.from_env(env) == Settings.model_validate({field: sample(field)})


@pytest.mark.parametrize("field", [field for field, setting in SETTINGS.items() if setting.flag])
def test_each_flag_reaches_its_own_field_in_serve_and_doctor(field: str) -> None:
    setting = SETTINGS[field]
    assert setting.flag is not None
    value = [] if field in BOOLEAN_FIELDS else [sample(field)]
    before = ["--sandbox"] if field == "sandbox_speed" else []
    transport = ["--transport", "http"] if setting.group == "transport" else []
    assert settings_from(parse(["serve", *transport, *before, setting.flag, *value])) == expected(field)
    if setting.group == "transport":
        with pytest.raises(UsageError, match=f"^{setting.flag}"):
            parse(["doctor", setting.flag, *value])
    else:
        assert settings_from(parse(["doctor", *before, setting.flag, *value])) == expected(field)


@pytest.mark.parametrize("field", sorted(SECRET_FIELDS))
def test_a_secret_has_no_flag_and_its_would_be_flag_is_refused_naming_its_variable(field: str) -> None:
    setting = SETTINGS[field]
    assert setting.flag is None
    assert "SecretStr" in str(Settings.model_fields[field].annotation)
    would_be = "--" + setting.env.removeprefix("BIMPE_").lower().replace("_", "-")
    for command in ("serve", "doctor"):
        with pytest.raises(UsageError, match=setting.env):
            parse([command, would_be, FREE_FORM[field]])


def sections(help_text: str) -> dict[str, str]:
    """A command's help, one entry per option group: its title line -> its text, whitespace made single."""
    blocks = help_text.split("\n\n")
    return {block.splitlines()[0]: " ".join(block.split()) for block in blocks}


def test_the_help_of_serve_and_doctor_lists_each_flag_in_its_group_with_its_variable() -> None:
    _, commands = build_parsers()
    serve, doctor = (sections(commands[name].format_help()) for name in ("serve", "doctor"))
    for field, setting in SETTINGS.items():
        if setting.flag is None:
            would_be = "--" + setting.env.removeprefix("BIMPE_").lower().replace("_", "-")
            assert not any(would_be in text for text in serve.values()), field
            continue
        explained = f"{setting.help} [env {setting.env}]"
        title = "transport:" if setting.group == "transport" else next(t for t in serve if t.startswith("settings"))
        assert explained in serve[title], field
        assert (explained in doctor.get(title, "")) is (setting.group == "settings"), field
        shown = f"{setting.flag} {setting.metavar}" if setting.metavar else setting.flag
        if field not in BOOLEAN_FIELDS and setting.metavar is None:
            shown = f"{setting.flag} {{{','.join(choices(field))}}}"
        assert f"[{shown}]" in " ".join(commands["serve"].format_usage().split()), field


@pytest.mark.parametrize("field", [field for field in SETTINGS if choices(field)])
def test_an_error_of_a_setting_of_words_names_every_word(field: str) -> None:
    words = choices(field)
    assert accepts(field) == ", ".join(words[:-1]) + " or " + words[-1]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({SETTINGS[field].env: "bogus"})
    assert str(caught.value).lower() == f"{SETTINGS[field].env}: must be {accepts(field)} (got 'bogus')".lower()


@pytest.mark.parametrize("field", [f for f in SETTINGS if limit(f, "le") is not None])
def test_an_error_of_a_number_names_its_limits(field: str) -> None:
    top = limit(field, "le")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({SETTINGS[field].env: "1e9"})
    assert f"must be {accepts(field)} (got '1e9')" in str(caught.value)
    assert str(top) in accepts(field)


def manifest_kind(field: str) -> str:
    """A bundle's field type: a host cannot leave a number empty, so a setting without a default is a string."""
    default = Settings.model_fields[field].default
    return "boolean" if isinstance(default, bool) else "number" if isinstance(default, int | float) else "string"


def value_kind(field: str) -> str:
    """A variable's format read from its field's type."""
    if field in BOOLEAN_FIELDS:
        return "boolean"
    annotation = Settings.model_fields[field].annotation
    return "number" if {int, float} & {annotation, *get_args(annotation)} else "string"


def test_the_bundle_user_config_agrees_with_the_declarations() -> None:
    user: dict[str, dict[str, Any]] = MANIFEST["user_config"]
    assert set(user) <= set(SETTINGS)
    env = {SETTINGS[name].env: f"${{user_config.{name}}}" for name in user}
    assert MANIFEST["server"]["mcp_config"]["env"] == env
    for name, spec in user.items():
        default: object = Settings.model_fields[name].default
        assert spec["type"] == manifest_kind(name), name
        assert spec.get("sensitive", False) is (name in SECRET_FIELDS), name
        if name in SECRET_FIELDS:
            assert "default" not in spec, name
        else:
            assert spec["default"] == ("" if default in (None, ()) else default), name
        low, floor, top = spec.get("min"), limit(name, "gt"), limit(name, "le")
        assert low is None or (floor is not None and low > floor), name
        assert spec.get("max") in (None, top), name


def test_server_json_variables_agree_with_the_declarations() -> None:
    variables: list[dict[str, Any]] = PACKAGE["environmentVariables"]
    assert {v["name"] for v in variables} == set(MANIFEST["server"]["mcp_config"]["env"])
    for variable in variables:
        field = ENV_VARS[variable["name"]]
        default: object = Settings.model_fields[field].default
        assert variable.get("isSecret", False) is (field in SECRET_FIELDS), field
        kind = value_kind(field)
        assert variable["format"] in ({kind, "filepath"} if kind == "string" else {kind}), field
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        assert variable.get("default") == (None if default in (None, ()) else env_text(default)), field
        for word in choices(field):
            assert word in variable["description"], field


def readme_rows() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- settings:begin -->\n(.*?)\n<!-- settings:end -->", readme, re.DOTALL)
    assert table, "README.md has the settings table between its markers"
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table.group(1).splitlines()[2:]]


def test_the_readme_table_names_each_variable_once_with_its_flag_and_meaning() -> None:
    named: dict[str, list[str]] = {}
    flag_of_row: dict[str, str] = {}
    for row in readme_rows():
        variables = [cell.strip("`") for cell in row[0].split(", ")]
        flags = [cell.strip("`") for cell in row[1].split(", ")]
        assert len(flags) == len(variables), row
        # A shared row writes the second name as the tail that differs: `_PER_DAY`, `-per-day`.
        for var, flag in zip(variables, flags, strict=True):
            var = variables[0].rsplit("_PER_", 1)[0] + var if var.startswith("_") else var
            named[var] = row
            if flag != "(none)":
                flag_of_row[var] = flags[0].rsplit("-per-", 1)[0] + flag if not flag.startswith("--") else flag
    assert list(named) == list(ENV_VARS)
    for var, row in named.items():
        field = ENV_VARS[var]
        setting, default = SETTINGS[field], Settings.model_fields[field].default
        assert row[3] == setting.doc, var
        assert var in flag_of_row or setting.flag is None, var
        assert flag_of_row.get(var, "(none)") == (setting.flag or "(none)"), var
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        assert row[2] == (setting.unset if default in (None, ()) else f"`{env_text(default)}`"), var
