"""`flask herald ...`: operator commands."""
from __future__ import annotations

import getpass

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import NotFound
from app.services import auth, breaker_control

herald = AppGroup("herald", help="Herald operator commands.")


@herald.command("create-service")
@click.argument("name")
@click.option("--timezone", default="Africa/Lusaka", show_default=True, help="IANA zone for quota windows.")
def create_service(name: str, timezone: str) -> None:
    """Create a service (tenant) and print its id and a first API key."""
    service = auth.create_service(name, timezone)
    key = auth.create_api_key(service.id)
    click.echo(f"service_id={service.id}")
    click.echo(f"api_key={key}")
    click.echo("The key is shown once; Herald stores only its hash.", err=True)


@herald.command("create-key")
@click.argument("service_id", type=int)
@click.option("--name", default="default", show_default=True)
def create_key(service_id: int, name: str) -> None:
    """Create another API key for a service and print it once."""
    click.echo(auth.create_api_key(service_id, name))


@herald.command("list-keys")
@click.argument("service_id", type=int)
def list_keys(service_id: int) -> None:
    """List a service's API keys by id and name (never their secrets)."""
    for key in auth.list_api_keys(service_id):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
        click.echo(f"{key.id}\t{key.name}\tcreated {key.created_at:%Y-%m-%d %H:%M}\t{state}")


@herald.command("revoke-key")
@click.argument("key_id", type=int)
def revoke_key(key_id: int) -> None:
    """Revoke an API key: every request with it answers 401 from now on."""
    revoked = auth.revoke_api_key(key_id)
    if revoked is None:
        raise click.ClickException(f"no API key with id {key_id}")
    click.echo(f"key {key_id} revoked" if revoked else f"key {key_id} was already revoked")


@herald.command("close-breaker")
@click.argument("account")
def close_breaker(account: str) -> None:
    """Close a gateway account's circuit breaker and resume the broadcasts it paused (audited)."""
    try:
        closed = breaker_control.close_breaker(account, actor=f"cli:{getpass.getuser()}")
    except NotFound as exc:
        raise click.ClickException(f"no gateway account named {account!r}") from exc
    state = f"was open ({closed['reason']})" if closed["was_open"] else "was closed already"
    click.echo(f"breaker of {account} closed; it {state}; resumed {len(closed['resumed'])} broadcast(s)")
    for broadcast_id in closed["resumed"]:
        click.echo(f"  resumed {broadcast_id}")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(herald)
