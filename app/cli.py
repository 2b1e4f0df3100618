"""`flask herald ...`: operator commands."""
from __future__ import annotations

import getpass
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import NotFound
from app.services.control import auth, breaker_control, region_backfill

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


@herald.command("backfill-regions")
@click.option("--batch-size", type=click.IntRange(1, region_backfill.BATCH_SIZE_MAX), default=1000, show_default=True,
              help="Rows per transaction.")
@click.option("--max-seconds", type=click.FloatRange(1, 7 * 86400), default=3600, show_default=True,
              help="Stop after this long; running the command again resumes.")
@click.option("--check", is_flag=True, help="Only count the rows still without a region.")
def backfill_regions(batch_size: int, max_seconds: float, check: bool) -> None:
    """Give messages and contacts stored before regions were kept their region; exit 1 while any are left.

    Batched, resumable and safe while sending: rows being claimed are skipped and left for a rerun.
    """
    try:
        done = None if check else region_backfill.backfill(batch_size, max_seconds, on_batch=_progress_printer())
        left = region_backfill.missing()
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    if done is not None:
        for table, filled in done.filled.items():
            click.echo(f"{table}: {filled} given a region ({done.unplaceable[table]} that phonenumbers "
                       f"cannot place got {region_backfill.UNKNOWN_REGION}, taken by catch-all routes only)")
        if done.timed_out:
            click.echo(f"stopped after {max_seconds:g} s; run again to resume", err=True)
    click.echo(f"without a region: {left['messages']} message(s), {left['contacts']} contact(s)")
    if any(left.values()):
        sys.exit(1)


def _progress_printer(every_seconds: float = 2.0):
    """A batch callback that prints progress on stderr at most every few seconds."""
    last = [0.0]

    def show(done: region_backfill.Progress) -> None:
        if time.monotonic() - last[0] >= every_seconds:
            last[0] = time.monotonic()
            click.echo("  " + ", ".join(f"{t}: {n} read, {done.filled[t]} filled" for t, n in done.read.items()),
                       err=True)
    return show


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(herald)
