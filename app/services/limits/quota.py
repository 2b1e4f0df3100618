"""Daily quotas per service and per provider account, reserved atomically before a send.

The reservation locks the scope's window row, so any number of workers racing
for the last few messages of a quota never overshoot it. Messages the gateway
did not take are refunded to the window they were reserved from.

A routed send names no account until its claim picks one per row, so its account quotas
(`Scope.account`) are locked with the others and reserved per row in that same claim: each
account takes no more rows than it has left, and a spent account is passed over like a down one.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.models import Service
from app.services.channels import routes

_ENSURE = text("""
INSERT INTO quota_windows (scope, window_start, window_end, quota_limit, used)
VALUES (:scope, :start, :end, :limit, 0)
ON CONFLICT (scope, window_start) DO UPDATE SET quota_limit = EXCLUDED.quota_limit
 WHERE quota_windows.quota_limit <> EXCLUDED.quota_limit
""")
_LOCK = text("""
SELECT quota_limit - used FROM quota_windows WHERE scope = :scope AND window_start = :start FOR UPDATE
""")
_READ = text("SELECT used FROM quota_windows WHERE scope = :scope AND window_start = :start")
_ADD = text("UPDATE quota_windows SET used = GREATEST(used + :n, 0) WHERE scope = :scope AND window_start = :start")


@dataclass(frozen=True)
class Scope:
    """One quota: a scope name, its limit, and the window in force."""

    name: str
    limit: int
    start: datetime
    end: datetime
    # Set on a routed send's account quotas: they count only the rows the claim routed to that account.
    account: str | None = None


def parse_limits(spec: str) -> dict[str, int]:
    """'africastalking=100000,other=5' → {'africastalking': 100000, 'other': 5}."""
    limits = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = entry.partition("=")
        if not name or not value.strip().isdigit():
            raise ValueError(f"bad quota entry {entry!r}: expected provider=count")
        limits[name.strip()] = int(value)
    return limits


def current_window(zone: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The window in force: a day from the reset time in `zone`, or fixed-length epoch slices."""
    cfg = current_app.config
    now = now or datetime.now(timezone.utc)
    length = cfg["HERALD_QUOTA_WINDOW_SECONDS"]
    if length != 86400:
        start = datetime.fromtimestamp(now.timestamp() // length * length, timezone.utc)
        return start, start + timedelta(seconds=length)
    local = now.astimezone(ZoneInfo(zone))
    reset = time.fromisoformat(cfg["HERALD_QUOTA_RESET_TIME"])
    start = datetime.combine(local.date(), reset, ZoneInfo(zone))
    if start > local:
        start -= timedelta(days=1)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def scopes_for(service_id: int, provider: str) -> list[Scope]:
    """Every quota a send by this service through this provider counts against."""
    scopes = []
    service = db.session.get(Service, service_id)
    if service is not None and service.daily_quota is not None:
        start, end = current_window(service.timezone)
        scopes.append(Scope(f"service:{service_id}", service.daily_quota, start, end))
    limits = parse_limits(current_app.config["HERALD_PROVIDER_DAILY_QUOTAS"])
    start, end = current_window(current_app.config["HERALD_PROVIDER_QUOTA_TIMEZONE"])
    if provider in limits:
        scopes.append(Scope(f"provider:{provider}", limits[provider], start, end))
    if provider == routes.ROUTED:
        scopes += [Scope(f"provider:{account}", limits[account], start, end, account)
                   for account in _routed_accounts() if account in limits]
    return scopes


def _routed_accounts() -> list[str]:
    """Every account some route uses."""
    return sorted({route.account for route in routes.table()})


def check_limits(spec: str, accounts) -> None:
    """Refuse a provider quota naming no configured account (or the routed pseudo-account); ValueError naming it."""
    for name in parse_limits(spec):
        if name not in accounts and name != routes.ROUTED:
            raise ValueError(f"quota for unknown account {name!r}; accounts: {', '.join(sorted(accounts))}")


def _ensure(scopes: list[Scope]) -> None:
    """Create this window's rows if missing (in the caller's transaction, in name order: it locks them)."""
    for scope in sorted(scopes, key=lambda s: s.name):
        db.session.execute(_ENSURE, {"scope": scope.name, "start": scope.start, "end": scope.end,
                                     "limit": scope.limit})


def lock_allowance(scopes: list[Scope]) -> tuple[int | None, dict[str, int]]:
    """Lock every scope's row (in name order, so workers never deadlock) and return what is left.

    (the least left of the scopes every row counts against, None = unlimited; per routed account, its own).
    """
    if not scopes:
        return None, {}
    _ensure(scopes)
    left = {s.name: max(0, db.session.execute(_LOCK, {"scope": s.name, "start": s.start}).scalar())
            for s in sorted(scopes, key=lambda s: s.name)}
    shared = [left[s.name] for s in scopes if s.account is None]
    return (min(shared) if shared else None), {s.account: left[s.name] for s in scopes if s.account is not None}


def lock_remaining(scopes: list[Scope]) -> int | None:
    """Lock the scopes' rows and return what is left of those every row counts against; None = unlimited."""
    return lock_allowance(scopes)[0]


def consume(scopes: list[Scope], count: int, by_account: dict | None = None) -> None:
    """Add `count` to every shared scope's usage and `by_account[a]` to account a's (negative refunds); caller commits."""
    for scope in scopes:
        n = count if scope.account is None else (by_account or {}).get(scope.account, 0)
        if n:
            db.session.execute(_ADD, {"scope": scope.name, "start": scope.start, "n": n})


def remaining(scopes: list[Scope]) -> int | None:
    """What is left in the current windows, without locking; None = unlimited.

    A routed send's account quotas stop it only when every routed account has one and all are spent.
    """
    if not scopes:
        return None
    left = {}
    for scope in scopes:
        used = db.session.execute(_READ, {"scope": scope.name, "start": scope.start}).scalar() or 0
        left[scope] = max(0, scope.limit - used)
    shared = [n for scope, n in left.items() if scope.account is None]
    accounts = {scope.account: n for scope, n in left.items() if scope.account is not None}
    if accounts and set(accounts) >= set(_routed_accounts()):
        shared.append(sum(accounts.values()))
    return min(shared) if shared else None


def report(service_id: int, provider: str) -> list[dict]:
    """Limit, used, remaining and reset time of every quota that applies to a service."""
    rows = []
    for scope in scopes_for(service_id, provider):
        used = db.session.execute(_READ, {"scope": scope.name, "start": scope.start}).scalar() or 0
        rows.append({"scope": scope.name, "limit": scope.limit, "used": used,
                     "remaining": max(0, scope.limit - used), "window_start": scope.start.isoformat(),
                     "resets_at": scope.end.isoformat()})
    return rows


def give_back(scopes: list[Scope], providers: list) -> None:
    """Return the quota of rows the gateway did not take, each to its account's scope too (caller commits)."""
    consume(scopes, -len(providers), {account: -n for account, n in Counter(providers).items()})
