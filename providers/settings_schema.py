"""Declared adapter settings: each provider lists its settings; accounts are checked against the list."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from providers.base import ProviderConfigError

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting an adapter takes: its name, type, whether it must be given, and its default."""

    name: str
    type: type
    required: bool = False
    default: object = None
    #: what the setting is for, shown in README tables and error messages
    help: str = ""


def check_settings(account: str, provider: str, schema: Sequence[Setting],
                   settings: Mapping[str, object]) -> dict[str, object]:
    """Settings with defaults filled in; ProviderConfigError naming the account and setting otherwise."""
    known = {setting.name: setting for setting in schema}
    unknown = sorted(str(name) for name in settings if name not in known)
    if unknown:
        raise ProviderConfigError(
            f"account {account!r} ({provider}): unknown setting(s) {', '.join(unknown)}; "
            f"{provider} takes {', '.join(sorted(known))}")
    checked: dict[str, object] = {}
    for setting in schema:
        value = settings.get(setting.name)
        if value is None or value == "":
            if setting.required:
                raise ProviderConfigError(f"account {account!r} ({provider}): setting {setting.name!r} is required")
            checked[setting.name] = setting.default
            continue
        checked[setting.name] = _typed(account, provider, setting, value)
    return checked


def _typed(account: str, provider: str, setting: Setting, value: object) -> object:
    """The value if it has the declared type (an int counts as a number), else ProviderConfigError."""
    wanted = setting.type
    ok = isinstance(value, wanted) and not (wanted is not bool and isinstance(value, bool))
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if wanted is float and ok and not math.isfinite(value):
        ok = False
    if not ok:
        raise ProviderConfigError(
            f"account {account!r} ({provider}): setting {setting.name!r} must be {_TYPE_NAMES[wanted]}, "
            f"got {value!r}")
    return value
