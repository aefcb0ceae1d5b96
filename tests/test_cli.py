"""Operator mistakes on the command line: each is one line on stderr naming the flag or variable used, exit code 2,
never a traceback, and never a key repeated back."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bimpe_mcp.cli.main import bind_problem, main, parse
from bimpe_mcp.core.settings import ENV_VARS
from tests.dist_support import console_script
from tests.support import child_env

KEY = "sk_live_4f7c1a9e2bd0c3a8"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command line in-process; it must exit 2 with exactly one line on stderr and nothing on stdout."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Value error" not in err and "Input should" not in err
    assert KEY not in err and "sk_live" not in err
    return err


MISTAKES = [
    (["doktor"], "bimpe-mcp: unknown command 'doktor'; did you mean doctor?"),
    (["serve", "--agentid", "agt_1"], "unknown option '--agentid'; did you mean --agent-id?"),
    (["--bogus"], "unknown option '--bogus' (see `bimpe-mcp serve --help`)"),
    (["--api-key", KEY], "--api-key: an API key is never taken on the command line"),
    ([f"--api-key={KEY}"], "--api-key: an API key is never taken on the command line"),
    (["--sandbox", "--token", KEY], "--token: an API key is never taken on the command line"),
    ([KEY], "an API key is never taken on the command line: set BIMPE_API_KEY instead"),
    (["--sandbox", KEY], "an API key is never taken on the command line"),
    (["--confirm-secret", "s" * 20], "--confirm-secret: BIMPE_CONFIRM_SECRET is a secret and is never taken on the"),
    ([f"--confirm-secret={KEY}"], "set BIMPE_CONFIRM_SECRET in the environment"),
    (["--sandbox", "extra"], "unexpected argument: options start with --"),
    (["--timeout", "-5"], "bimpe-mcp: --timeout: must be a number greater than 0 and at most 300 (got '-5')"),
    (["--max-retries", "many"], "--max-retries: must be a whole number from 0 to 10 (got 'many')"),
    (["--base-url", "ftp://api"], "--base-url: must start with https:// (or http:// for a local sandbox)"),
    (["--agent-id", "../calls"], "--agent-id: must be an agent id as list_agents shows it"),
    (["--text-format", "xml"], "--text-format: must be compact or json (got 'xml')"),
    (["--transport", "tcp"], "--transport: invalid choice: 'tcp'"),
    (["--port", "9000"], "--port applies to --transport http only"),
    (["--host", "0.0.0.0", "--port", "9000"], "--host and --port apply to --transport http only"),
    (["--port", "99999"], "--port: must be a whole number from 0 to 65535"),
    (["--transport", "http", "--port", "99999"], "--port: must be a whole number from 0 to 65535, 0 for a free port"),
    (["--sandbox", "--sandbox-speed", "0"], "--sandbox-speed: must be a number greater than 0 and at most 1000"),
    (["sandbox", "--host", "0.0.0.0"], "bimpe-mcp sandbox: --host: the sandbox listens on a loopback address only"),
    (["sandbox", "--port", "99999"], "bimpe-mcp sandbox: --port: must be a whole number from 0 to 65535"),
    (["sandbox", "--speed", "-1"], "bimpe-mcp sandbox: --speed: must be a number, 0 or more"),
    (["sandbox", "--calls", "lots"], "bimpe-mcp sandbox: --calls: must be a whole number, 0 or more"),
    (["sandbox", "--seed", "x"], "bimpe-mcp sandbox: --seed: must be a whole number"),
    (["sandbox", "--sandbox"], "bimpe-mcp sandbox: unknown option '--sandbox'"),
    (["doctor", "--transport", "http", "--port", "9000"], "bimpe-mcp doctor: --transport is an option of serve"),
    (["doctor", "--port", "9000"], "bimpe-mcp doctor: --port is an option of serve"),
    (["doctor", "--auth", "tokens"], "bimpe-mcp doctor: --auth is an option of serve"),
    (["doctor", "--auth", KEY], "bimpe-mcp doctor: unexpected argument: an API key is never taken on the command line"),
    (["doctor", "--api-key", KEY], "bimpe-mcp doctor: --api-key: an API key is never taken on the command line"),
]


@pytest.mark.parametrize(("argv", "expected"), MISTAKES, ids=[" ".join(a)[:40] for a, _ in MISTAKES])
def test_a_command_line_mistake_is_one_line_naming_what_was_typed_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert expected in one_line_error(capsys, argv)


ENV_MISTAKES = [
    ({"BIMPE_TIMEOUT": "-5"}, "BIMPE_TIMEOUT: must be a number greater than 0 and at most 300 (got '-5')"),
    ({"BIMPE_READ_ONLY": "maybe"}, "BIMPE_READ_ONLY: must be true or false (got 'maybe')"),
    ({"BIMPE_BASE_URL": "https://api.bimpe.ai/api/v1/console"}, "BIMPE_BASE_URL: give the origin only"),
    ({"BIMPE_AGENT_ID": KEY + "/.."}, "BIMPE_AGENT_ID: must be an agent id"),
    ({"BIMPE_API_KEY": "sk_live_4f7c1a9e 2bd0c3a8"}, "BIMPE_API_KEY: has a space or line break inside"),
    ({"BIMPE_API_KEY": "sk_live_4f7c1a9e\n2bd0c3a8"}, "BIMPE_API_KEY: has a space or line break inside"),
    ({"BIMPE_API_KEY": "sk_live_4f7c1a9é2bd0c3a8"}, "BIMPE_API_KEY: has characters no key has"),
    ({"BIMPE_API_KEY": "${BIMPE_API_KEY}"}, "BIMPE_API_KEY: holds an unexpanded placeholder"),
    ({"BIMPE_SANDBOX": "yes", "BIMPE_API_KEY": KEY}, "BIMPE_SANDBOX is on and BIMPE_API_KEY is set"),
]


@pytest.mark.parametrize(("env", "expected"), ENV_MISTAKES, ids=[next(iter(e)) for e, _ in ENV_MISTAKES])
def test_a_bad_variable_is_one_line_naming_the_variable_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    err = one_line_error(capsys, [])
    assert expected in err
    assert "4f7c1a9e" not in err, "no part of a key is repeated back"


def test_a_flag_overriding_a_bad_variable_is_named_as_the_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_TIMEOUT", "20")
    err = one_line_error(capsys, ["--timeout", "0"])
    assert "--timeout: " in err and "BIMPE_TIMEOUT" not in err


def test_the_doctor_reports_a_key_with_a_space_as_a_failed_configuration_without_showing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_API_KEY", "sk_live_4f7c1a9e 2bd0c3a8")
    assert main(["doctor"]) == 2
    out = capsys.readouterr().out
    assert "[FAIL] configuration: BIMPE_API_KEY: has a space or line break inside" in out
    assert "4f7c1a9e" not in out


def started_through_a_pipe(argv: list[str], **env: str) -> list[str]:
    """The stderr lines of a stdio server started as a client starts it (stdin a pipe, closed at once, so it ends)."""
    done = subprocess.run(
        [console_script(), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BIMPE_")} | child_env(**env),
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr.splitlines()


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--sandbox-speed", "20"], {}, "--sandbox-speed 20"),
        ([], {"BIMPE_SANDBOX_SPEED": "20"}, "BIMPE_SANDBOX_SPEED=20"),
    ],
    ids=["flag", "variable"],
)
def test_the_sandbox_speed_without_the_sandbox_is_ignored_saying_so_whether_flag_or_variable(
    argv: list[str], env: dict[str, str], named: str
) -> None:
    lines = started_through_a_pipe(argv, BIMPE_API_KEY=KEY, **env)
    assert lines == [f"bimpe-mcp: {named} is ignored: it sets the embedded sandbox's clock, so it applies with "
                     "--sandbox only"]  # fmt: skip


def test_a_server_started_through_a_pipe_without_a_key_says_so_in_one_line() -> None:
    lines = started_through_a_pipe([])
    assert len(lines) == 1 and "no BIMPE_API_KEY is set: every tool will answer not_configured" in lines[0]
    assert started_through_a_pipe([], BIMPE_API_KEY=KEY) == [], "with a key, nothing to say"
    assert started_through_a_pipe([], BIMPE_API_KEY=KEY, BIMPE_SANDBOX_SPEED="1") == [], "a bundle passes the default"


def test_help_lists_every_command_and_each_command_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    top = capsys.readouterr().out
    for command in ("serve", "sandbox", "doctor"):
        assert f"bimpe-mcp {command}" in top or f"    {command}" in top, command
    assert "BIMPE_API_KEY" in top and "--api-key" not in top
    for command, options in {
        "serve": ["--transport", "--host", "--port", "--sandbox", "--sandbox-speed", "--read-only", "--log-level"],
        "sandbox": ["--host", "--port", "--seed", "--calls", "--speed"],
        "doctor": ["--json", "--sandbox", "--agent-id"],
    }.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        if command == "serve":
            words = " ".join(text.split())
            assert "BIMPE_HTTP_ALLOWED_HOSTS" in words and "BIMPE_HTTP_ALLOWED_ORIGINS" in words
        lines = text.splitlines()
        for option in options:
            line = next(
                i for i, line in enumerate(lines) if line.strip().startswith(option + " ") or line.strip() == option
            )
            helped = " ".join(lines[line : line + 2]).split(option, 1)[1]
            assert len(helped.split()) >= 3, f"{command} {option} is explained"
    with pytest.raises(SystemExit):
        main(["--sandbox", "--help"])
    assert "usage: bimpe-mcp serve" in capsys.readouterr().out, "serve is implied"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "argv",
    [["--sandbox", "--transport", "http", "--port"], ["sandbox", "--port"]],
    ids=["serve over HTTP", "sandbox"],
)
def test_a_port_in_use_is_one_line_and_exit_2_and_nothing_is_announced(argv: list[str], busy_port: int) -> None:
    run = subprocess.run(
        [console_script(), *argv, str(busy_port)],
        capture_output=True,
        text=True,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert f"--port {busy_port}: 127.0.0.1:{busy_port} is already in use by another program" in run.stderr
    assert "--port 0 for a free one" in run.stderr


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.0.2.1", "--host '192.0.2.1': not an address of this machine"),
        ("nosuch.invalid", "--host 'nosuch.invalid': not a name or address of this machine"),
    ],
)
def test_an_http_address_not_of_this_machine_is_one_line_and_exit_2(host: str, expected: str, tmp_path: Path) -> None:
    # Beyond loopback a server needs auth: with it, the address is what is refused.
    (tmp_path / "tokens").write_text("a-token-of-the-team-0123456789\n", encoding="utf-8")
    run = subprocess.run(
        [console_script(), "--sandbox", "--transport", "http", "--host", host, "--port", "0", "--auth", "tokens"],
        capture_output=True,
        text=True,
        env=child_env(BIMPE_HTTP_TOKENS_FILE=str(tmp_path / "tokens")),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert expected in run.stderr


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(errno.EACCES, "Permission denied"), "--port 80: not allowed to listen on it here"),
        (OSError(errno.EMFILE, "Too many open files"), "--host '0.0.0.0' --port 80: cannot listen there (Too many"),
    ],
)
def test_other_listening_failures_name_the_host_and_port(failure: OSError, expected: str) -> None:
    assert bind_problem(failure, "0.0.0.0", 80).startswith(expected)


def test_version_and_the_explicit_serve_command_parse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip().startswith("bimpe-mcp ")
    assert parse(["serve", "--sandbox"]).sandbox is True
    assert parse([]).command == "serve" and parse([]).transport == "stdio"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--quiet-hours", "25:00-08:00"], {}, "--quiet-hours: has a time that does not exist"),
        ([], {"BIMPE_QUIET_HOURS": "25:00-08:00"}, "BIMPE_QUIET_HOURS: has a time that does not exist"),
        ([], {"BIMPE_ALLOWED_DESTINATIONS": "+234,+1415"}, "BIMPE_ALLOWED_DESTINATIONS: '+1415' is neither"),
        (["--confirm", "never"], {}, "--confirm: must be auto, elicit, app, token or off"),
        (["--max-live-calls-per-day", "-2"], {}, "--max-live-calls-per-day: must be"),
    ],
)
def test_a_bad_policy_setting_is_one_line_naming_the_flag_or_variable(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert expected in one_line_error(capsys, argv)


def test_policy_flags_reach_the_settings_and_the_confirmation_secret_has_no_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bimpe_mcp.cli.flags import settings_from
    from bimpe_mcp.cli.main import parse

    opts = parse(["serve", "--blocked-destinations", "+234", "--confirm", "token", "--confirm-test-calls", "--redact"])
    settings = settings_from(opts)
    assert settings.blocked_destinations == ("+234",) and settings.confirm == "token"
    assert settings.confirm_test_calls and settings.redact
    refused = one_line_error(capsys, ["--confirm-secret", "x" * 20])
    assert "--confirm-secret: " in refused and "never taken on the command line" in refused
