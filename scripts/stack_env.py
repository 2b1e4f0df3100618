"""The stack's environment: settings persisted in stack.json and the variables built from them."""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import embedded
from processes import Process
from stack_layout import Stack

# The stack's gateways, all in the sandbox: MTN and Airtel through direct SMPP binds to its SMSC, Zamtel
# and the rest through its HTTP aggregator; MTN and Airtel fall back to the aggregator when their bind's
# breaker opens. Given to the stack's processes only (`stack.py run` commands, tests among them, keep
# the single default account), below the environment and stack.json, which override them.
# {NAME} is filled from the stack's variables ({webhook_secret} from stack.json).
_SMSC = {"provider": "smpp", "host": "127.0.0.1", "port": 2775, "system_id": "sandbox", "password": "sandbox-pw",
         "window_size": 20}
DEMO_ACCOUNTS = {
    "africastalking": {"provider": "africastalking", "base_url": "{AT_BASE_URL}", "username": "{AT_USERNAME}",
                       "api_key": "{AT_API_KEY}", "webhook_secret": "{webhook_secret}",
                       "honours_idempotency_key": True},
    "smpp_mtn": _SMSC,
    "smpp_airtel": _SMSC,
}
DEMO_ROUTES = [
    {"name": "mtn-smpp", "country": "ZM", "carrier": "MTN", "account": "smpp_mtn", "price": "0.18", "priority": 1},
    {"name": "mtn-aggregator", "country": "ZM", "carrier": "MTN", "account": "africastalking", "price": "0.25",
     "priority": 2},
    {"name": "airtel-smpp", "country": "ZM", "carrier": "Airtel", "account": "smpp_airtel", "price": "0.17",
     "priority": 1},
    {"name": "airtel-aggregator", "country": "ZM", "carrier": "Airtel", "account": "africastalking",
     "price": "0.24", "priority": 2},
    {"name": "zamtel-aggregator", "country": "ZM", "carrier": "Zamtel", "account": "africastalking",
     "price": "0.22"},
    {"name": "default", "account": "africastalking", "price": "0.30"},
]
DEFAULT_SETTINGS_ENV = {
    "AT_BASE_URL": "http://127.0.0.1:8025",
    "AT_USERNAME": "sandbox",
    "AT_API_KEY": "sandbox-key",
    "AT_HONOURS_IDEMPOTENCY_KEY": "1",
}
STACK_GATEWAYS_ENV = {"HERALD_ACCOUNTS": json.dumps(DEMO_ACCOUNTS), "HERALD_ROUTES": json.dumps(DEMO_ROUTES)}


# Secrets generated once per data dir and kept in stack.json: the webhook path, Flower's password.
GENERATED_SECRETS = ("webhook_secret", "flower_password", "pseudonym_key")
FLOWER_USER = "herald"


def load_settings(stack: Stack) -> dict:
    """Read .data/stack.json, creating it with fresh secrets on first use."""
    path = stack.data_dir / "stack.json"
    if not path.exists():
        fresh = {**{name: secrets.token_urlsafe(32) for name in GENERATED_SECRETS}, "env": dict(DEFAULT_SETTINGS_ENV)}
        _write_private(path, json.dumps(fresh, indent=2) + "\n", replace=False)
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON ({exc}); fix or delete it")
    before = json.dumps(settings, sort_keys=True)
    for name in GENERATED_SECRETS:
        # A data dir from before a secret existed gets one now, kept from then on.
        if not settings.get(name):
            settings[name] = secrets.token_urlsafe(32)
    env = settings.setdefault("env", {})
    for name, value in DEFAULT_SETTINGS_ENV.items():
        env.setdefault(name, value)
    if json.dumps(settings, sort_keys=True) != before:
        _write_private(path, json.dumps(settings, indent=2) + "\n", replace=True)
    return settings


def _write_private(path: Path, text: str, replace: bool) -> None:
    """Write a file only its owner can read (it holds a secret), atomically.

    With replace=False an existing file is kept, so two first runs racing each
    other still end up agreeing on one secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def common_env(stack: Stack) -> dict[str, str]:
    """The stack's variables, starting embedded servers unless already configured."""
    settings = load_settings(stack)
    values = {
        "DATABASE_URL": embedded.ensure_postgres(stack.data_dir),
        "REDIS_URL": embedded.ensure_redis(stack.data_dir),
        **{name: str(value) for name, value in settings["env"].items()},
        "HERALD_WEBHOOK_SECRET": settings["webhook_secret"],
        "HERALD_PSEUDONYM_KEY": settings["pseudonym_key"],
    }
    return {name: os.environ.get(name) or value for name, value in values.items()}


def placeholders(stack: Stack, common: dict[str, str]) -> dict[str, str]:
    """Values a process's argv and env may refer to as {name}."""
    return {**common, "webhook_secret": common["HERALD_WEBHOOK_SECRET"],
            "flower_auth": flower_auth(stack), "data_dir": str(stack.data_dir)}


def flower_auth(stack: Stack) -> str:
    """user:password for Flower's basic auth (token_urlsafe never contains the ',' Flower splits on)."""
    return f"{FLOWER_USER}:{load_settings(stack)['flower_password']}"


def fill(template: str, fields: dict[str, str]) -> str:
    """Replace {name} for known names only, so other braces pass through untouched."""
    return re.sub(r"\{(\w+)\}", lambda m: fields.get(m.group(1), m.group(0)), template)


def process_env(common: dict[str, str], spec: Process, fields: dict[str, str]) -> dict[str, str]:
    """Full environment for one process: the stack's gateways, ours, the stack's, then its own extras."""
    gateways = {name: fill(value, fields) for name, value in STACK_GATEWAYS_ENV.items()}
    own = {**os.environ, **common}
    # Accounts or routes of one's own replace the sandbox's pair whole; so does a real gateway URL.
    if set(STACK_GATEWAYS_ENV) & set(own) or not own.get("AT_BASE_URL", "").startswith("http://127.0.0.1:"):
        gateways = {}
    extra = {name: fill(value, fields) for name, value in spec.env.items()}
    # Unbuffered output so logs show up while the process runs, not at exit.
    return {**gateways, **os.environ, "PYTHONUNBUFFERED": "1", **common, **extra}


def shell_quote(value: str) -> str:
    """Single-quote value for POSIX shells."""
    return "'" + value.replace("'", "'\"'\"'") + "'"
