"""The settings as command-line flags, read from their declarations on `Settings`: each flag mirrors a BIMPE_*
variable (the secrets have none, so they never appear on a command line), and the settings read from both."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from bimpe_mcp.core.settings import BOOLEAN_FIELDS, SETTINGS, Settings, choices

SETTINGS_TITLE = "settings (each flag wins over its BIMPE_* variable; the API key is read from BIMPE_API_KEY only)"


def flag_fields(group: str) -> list[str]:
    """The settings with a flag in a help section, in the order the help lists them: `--sandbox` first (the way to
    try the server), then the flags that take a value, then the other switches, each in the order of the fields."""
    fields = [field for field, setting in SETTINGS.items() if setting.flag and setting.group == group]
    return sorted(fields, key=lambda field: (field != "sandbox", field in BOOLEAN_FIELDS))


def flags_of(group: str) -> dict[str, str]:
    """Field -> flag of the settings in a help section."""
    return {field: str(SETTINGS[field].flag) for field in flag_fields(group)}


def add_setting_flag(group: Any, field: str) -> None:
    """One setting's flag in an argparse group: a switch for a boolean, else a value (a choice of words when the
    declaration names no metavar). None when not given, so that the environment decides."""
    setting = SETTINGS[field]
    assert setting.flag is not None, f"{field} is read from the environment only"
    text = f"{setting.help} [env {setting.env}]"
    if field in BOOLEAN_FIELDS:
        group.add_argument(setting.flag, dest=field, action="store_true", default=None, help=text)
        return
    words = list(choices(field)) if setting.metavar is None else None
    group.add_argument(setting.flag, dest=field, default=None, metavar=setting.metavar, choices=words, help=text)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that mirror BIMPE_* variables; the key has none, so it never appears on a command line."""
    group = parser.add_argument_group(SETTINGS_TITLE)
    for field in flag_fields("settings"):
        add_setting_flag(group, field)


def settings_from(opts: argparse.Namespace) -> Settings:
    """The environment, overridden by whichever flags were given (the key has no flag). Errors name the flag or the
    variable the value came from."""
    flags = {field: setting.flag for field, setting in SETTINGS.items() if setting.flag}
    # Settings without a flag of this command (the HTTP ones outside serve) come from the environment only.
    overrides = {field: getattr(opts, field, None) for field in flags}
    return Settings.from_env(names=flags, **overrides)


def ignored(opts: argparse.Namespace, settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """A line for each setting given that this configuration does not use: the sandbox's speed without the sandbox,
    given as a flag or in the environment (at a speed other than the default, which a bundle passes either way)."""
    if settings.sandbox:
        return []
    given = f"--sandbox-speed {opts.sandbox_speed}" if getattr(opts, "sandbox_speed", None) is not None else None
    raw = environ.get("BIMPE_SANDBOX_SPEED", "").strip()
    if given is None and raw and settings.sandbox_speed != Settings.model_fields["sandbox_speed"].default:
        given = f"BIMPE_SANDBOX_SPEED={raw}"
    if given is None:
        return []
    return [f"{given} is ignored: it sets the embedded sandbox's clock, so it applies with --sandbox only"]
