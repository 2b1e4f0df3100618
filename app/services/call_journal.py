"""Which claimed messages really reached the point of a gateway call: a Redis record per claim.

A claim opens its journal before its rows are leased; every gateway call is
entered in it, in the same Redis script that checks the broadcast's status flag
and the account's breaker, immediately before the call. So when a worker dies
mid-batch, the lease reaper knows which rows were never attempted (they go back
to `pending` with their attempt and quota given back) and which may be at the
gateway (judged by the retry policy). A worker that holds outcomes it cannot
write yet keeps the journal's heartbeat fresh, and the reaper leaves it alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from app.redis_store import get_redis
from app.services import guard
from app.services.quota import Scope

_STARTED_PREFIX = "s:"

# KEYS: journal, status flag (or the journal again when no broadcast), breaker.
# ARGV: ttl ms, check-flag 0/1, message ids...  Returns 'ok', or why the call must not start.
_START_CALLS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_journal' end
if ARGV[2] == '1' then
  local flag = redis.call('GET', KEYS[2])
  if not flag then return 'no_flag' end
  local status = string.match(flag, '^(%a+)')
  if status ~= 'running' then return 'status:' .. status end
end
local reason = redis.call('GET', KEYS[3])
if reason then return 'breaker:' .. reason end
for i = 3, #ARGV do redis.call('HSET', KEYS[1], 's:' .. ARGV[i], '1') end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 'ok'
"""
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'hb', redis.call('TIME')[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


def journal_key(token) -> str:
    """Redis key of one claim's journal."""
    return f"herald:claim:{token}"


def breaker_key(account: str) -> str:
    """Redis key that holds an account's open-breaker reason (absent when closed)."""
    return f"herald:breaker:{account}"


@dataclass
class Journal:
    """What a claim's journal says: the quota windows it reserved and the calls that started."""

    scopes: list = field(default_factory=list)
    started: set[int] = field(default_factory=set)
    heartbeat: int | None = None


def open_journal(token, scopes: list, ttl_seconds: float) -> None:
    """Start a claim's journal (before its rows are leased); raises if Redis is unreachable."""
    meta = json.dumps([[s.name, s.limit, s.start.isoformat(), s.end.isoformat()] for s in scopes])
    pipe = get_redis().pipeline()
    pipe.hset(journal_key(token), "meta", meta)
    pipe.pexpire(journal_key(token), int(ttl_seconds * 1000))
    pipe.execute()


def start_calls(token, broadcast_id, account: str, message_ids: list[int], ttl_seconds: float) -> str:
    """Enter calls about to start; 'ok', or the reason they must not ('status:paused', 'breaker:…', …)."""
    key = journal_key(token)
    flag = guard.flag_key(broadcast_id) if broadcast_id else key
    return get_redis().eval(_START_CALLS, 3, key, flag, breaker_key(account), int(ttl_seconds * 1000),
                            "1" if broadcast_id else "0", *message_ids)


def heartbeat(token, ttl_seconds: float) -> bool:
    """Say the claim's worker is alive and still holds its outcomes; False if the journal is gone."""
    return bool(get_redis().eval(_HEARTBEAT, 1, journal_key(token), int(ttl_seconds * 1000)))


def read_journals(tokens: list) -> dict[str, Journal | None]:
    """Every listed claim's journal (None where Redis no longer has it), in one round trip."""
    pipe = get_redis().pipeline()
    for token in tokens:
        pipe.hgetall(journal_key(token))
    return {str(token): _parse(raw) for token, raw in zip(tokens, pipe.execute())}


def _parse(raw: dict) -> Journal | None:
    """Decode a journal hash."""
    if not raw or "meta" not in raw:
        return None
    started = {int(k[len(_STARTED_PREFIX):]) for k in raw if k.startswith(_STARTED_PREFIX)}
    scopes = [Scope(name, limit, datetime.fromisoformat(start), datetime.fromisoformat(end))
              for name, limit, start, end in json.loads(raw["meta"])]
    return Journal(scopes, started, int(raw["hb"]) if "hb" in raw else None)


def close_journals(tokens: list) -> None:
    """Drop journals whose claims are settled."""
    if tokens:
        get_redis().delete(*[journal_key(t) for t in tokens])

