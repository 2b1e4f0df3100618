"""Tests for the stack environment (scripts/stack_env.py) through `stack.py env` and `stack.py run`.

They run in a temporary data dir with DATABASE_URL/REDIS_URL preset, so no
embedded server starts.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

# First: stack_testing puts scripts/ on sys.path for the imports below.
from stack_testing import REPO, STAND_IN_DB, STAND_IN_REDIS

import stack_env
from processes import PROCESSES, Process


def exports(text: str) -> dict[str, str]:
    """Parse `export NAME='value'` lines."""
    values = {}
    for line in text.splitlines():
        name, _, quoted = line.removeprefix("export ").partition("=")
        values[name] = quoted[1:-1]
    return values


def test_env_exports_settings_and_persists_secret(stack, cli, capsys):
    assert cli("env") == 0
    first = exports(capsys.readouterr().out)
    assert first["DATABASE_URL"] == STAND_IN_DB
    assert first["REDIS_URL"] == STAND_IN_REDIS
    assert first["AT_BASE_URL"] == "http://127.0.0.1:8025"
    assert first["AT_USERNAME"] == "sandbox"
    assert first["AT_API_KEY"] == "sandbox-key"
    assert first["AT_HONOURS_IDEMPOTENCY_KEY"] == "1"
    assert len(first["HERALD_WEBHOOK_SECRET"]) >= 32

    settings_file = stack.data_dir / "stack.json"
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert json.loads(settings_file.read_text())["webhook_secret"] == first["HERALD_WEBHOOK_SECRET"]

    assert cli("env") == 0
    assert exports(capsys.readouterr().out) == first


def test_environment_wins_over_settings(stack, cli, capsys, monkeypatch):
    monkeypatch.setenv("AT_USERNAME", "live-user")
    monkeypatch.setenv("HERALD_WEBHOOK_SECRET", "it's-set")
    assert cli("env") == 0
    values = exports(capsys.readouterr().out)
    assert values["AT_USERNAME"] == "live-user"
    assert values["HERALD_WEBHOOK_SECRET"] == "it'\"'\"'s-set"


def test_env_output_evaluates_in_a_shell(tmp_path):
    env = {**os.environ, "HERALD_DATA_DIR": str(tmp_path), "DATABASE_URL": STAND_IN_DB,
           "REDIS_URL": STAND_IN_REDIS, "AT_API_KEY": "quote'd key"}
    script = f'eval "$({sys.executable} scripts/stack.py env)" && printf "%s|%s" "$AT_API_KEY" "$REDIS_URL"'
    out = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out == f"quote'd key|{STAND_IN_REDIS}"


def test_run_execs_command_with_stack_env_and_exit_code(tmp_path):
    env = {**os.environ, "HERALD_DATA_DIR": str(tmp_path), "DATABASE_URL": STAND_IN_DB,
           "REDIS_URL": STAND_IN_REDIS}
    env.pop("HERALD_WEBHOOK_SECRET", None)
    code = "import os, sys; print(os.environ['HERALD_WEBHOOK_SECRET']); sys.exit(7)"
    result = subprocess.run([sys.executable, "scripts/stack.py", "run", "--", sys.executable, "-c", code],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 7
    secret = json.loads((tmp_path / "stack.json").read_text())["webhook_secret"]
    assert result.stdout.strip() == secret


def test_placeholders_fill_env_and_leave_other_braces(stack):
    common = {"DATABASE_URL": "db", "REDIS_URL": "r", "HERALD_WEBHOOK_SECRET": "s3cret"}
    fields = stack_env.placeholders(stack, common)
    spec = Process("x", ["true"], env={"DLR": "http://h/{webhook_secret}", "DB": "{DATABASE_URL}",
                                       "JSON": '{"a": {unknown}}'})
    env = stack_env.process_env(common, spec, fields)
    assert env["DLR"] == "http://h/s3cret"
    assert env["DB"] == "db"
    assert env["JSON"] == '{"a": {unknown}}'
    assert env["REDIS_URL"] == "r"
    assert stack_env.fill("{data_dir}/run/x", fields) == f"{stack.data_dir}/run/x"


def test_flower_gets_basic_auth_with_a_password_generated_once(stack, cli, capsys):
    assert cli("env") == 0
    settings = json.loads((stack.data_dir / "stack.json").read_text())
    password = settings["flower_password"]
    assert len(password) >= 32 and password != settings["webhook_secret"]
    flower = next(spec for spec in PROCESSES if spec.name == "flower")
    common = {"DATABASE_URL": "db", "REDIS_URL": "r", "HERALD_WEBHOOK_SECRET": "s"}
    env = stack_env.process_env(common, flower, stack_env.placeholders(stack, common))
    assert env["FLOWER_BASIC_AUTH"] == f"herald:{password}"
    assert not any(password in arg or "{flower_auth}" in arg for arg in flower.argv)
    assert cli("env") == 0
    assert json.loads((stack.data_dir / "stack.json").read_text())["flower_password"] == password


def test_a_data_dir_from_before_flower_auth_gets_a_password(stack, cli):
    stack.data_dir.mkdir(parents=True)
    old = {"webhook_secret": "kept-secret", "env": {}}
    (stack.data_dir / "stack.json").write_text(json.dumps(old))
    assert cli("env") == 0
    settings = json.loads((stack.data_dir / "stack.json").read_text())
    assert settings["webhook_secret"] == "kept-secret" and len(settings["flower_password"]) >= 32
    assert stat.S_IMODE((stack.data_dir / "stack.json").stat().st_mode) == 0o600
