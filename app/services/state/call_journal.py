"""What happened to each claimed message at the gateway, kept in Redis per claim as it happens.

A claim opens its journal before its rows are leased. Every gateway call is
entered in it immediately before the call, by the same Redis script that checks
the broadcast's status flag and the account's breaker; every answer is entered
as soon as it is heard (with the lane's next call, or before the lane sleeps).
So when a worker dies mid-batch, the lease reaper knows which rows were never
attempted (back to `pending`, attempt and quota given back), which were answered
(settled as if the worker had written them), and which calls were really in
flight: only those are in doubt. A worker that holds outcomes it cannot write yet
keeps the journal's heartbeat fresh, and the reaper leaves it alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from app.redis_store import get_redis
from app.services.state import guard
from app.services.limits.quota import Scope
from app.statuses import BroadcastStatus, sql_literal
from providers.base import (Accepted, GatewayRejected, NotSent, PermanentError, RateLimited, SendResult,
                            TemporaryError, UnknownOutcome)

_STARTED_PREFIX = "s:"
_RESULT_PREFIX = "r:"

# KEYS: journal, status flag (or the journal again when no broadcast), breaker, recent opt-outs,
# the account's Retry-After hold.
# ARGV: ttl ms, check-flag 0/1, n answers, then n (message id, answer) pairs, then n ids about to be
# sent, then those n ids, then (to check opt-outs) their n addresses. Answers are entered whatever the verdict; returns
# 'ok', 'optout:<i>,<j>' (1-based positions of addresses that opted out since the claim: nothing
# journalled, the caller sends the rest), 'hold:<ms>' (the gateway asked the account to wait that
# long), or why the next call must not start ('fenced': the reaper is settling the claim).
_START_CALLS = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_journal' end
local answers = tonumber(ARGV[3])
for i = 0, answers - 1 do redis.call('HSET', KEYS[1], 'r:' .. ARGV[4 + 2 * i], ARGV[5 + 2 * i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'fenced') == 1 then return 'fenced' end
if ARGV[2] == '1' then
  local flag = redis.call('GET', KEYS[2])
  if not flag then return 'no_flag' end
  local status = string.match(flag, '^(%a+)')
  if status ~= {sql_literal(BroadcastStatus.RUNNING)} then return 'status:' .. status end
end
local reason = redis.call('GET', KEYS[3])
if reason then return 'breaker:' .. reason end
local hold = redis.call('PTTL', KEYS[5])
if hold > 0 then return 'hold:' .. hold end
local first = 5 + 2 * answers
local n = tonumber(ARGV[first - 1])
if #ARGV >= first + 2 * n - 1 and redis.call('EXISTS', KEYS[4]) == 1 then
  local stopped = {{}}
  for i = 1, n do
    if redis.call('SISMEMBER', KEYS[4], ARGV[first + n + i - 1]) == 1 then stopped[#stopped + 1] = i end
  end
  if #stopped > 0 then return 'optout:' .. table.concat(stopped, ',') end
end
for i = first, first + n - 1 do redis.call('HSET', KEYS[1], 's:' .. ARGV[i], '1') end
return 'ok'
"""
_NOTE_ANSWERS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], 'r:' .. ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# One letter per outcome type; the rest of an entry is what rebuilding it needs.
_KINDS = {Accepted: "A", RateLimited: "L", NotSent: "N", GatewayRejected: "G", TemporaryError: "T",
          PermanentError: "P", UnknownOutcome: "U"}
_TYPES = {letter: kind for kind, letter in _KINDS.items()}
# KEYS: an account's hold. ARGV: ms. Only ever lengthens the hold, never shortens it.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""
# KEYS: journal. ARGV: lease seconds. A journal whose worker beat within the lease is left alone
# ('alive'); any other is fenced (no call of it starts any more) and returned, in the same step.
_FENCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local beat = redis.call('HGET', KEYS[1], 'hb')
if beat and tonumber(redis.call('TIME')[1]) - tonumber(beat) < tonumber(ARGV[1]) then return 'alive' end
redis.call('HSET', KEYS[1], 'fenced', '1')
return redis.call('HGETALL', KEYS[1])
"""
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'hb', redis.call('TIME')[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


_loaded: dict = {}


def _script(text: str):
    """The script as this process's client runs it: by its SHA (EVALSHA), loaded again if Redis lost it."""
    client = get_redis()
    key = (id(client), text)
    if key not in _loaded:
        _loaded[key] = client.register_script(text)
    return _loaded[key]


def journal_key(token) -> str:
    """Redis key of one claim's journal."""
    return f"herald:claim:{token}"


def hold_key(account: str) -> str:
    """Redis key that exists while a gateway's Retry-After holds an account."""
    return f"herald:hold:{account}"


def breaker_key(account: str) -> str:
    """Redis key that holds an account's open-breaker reason (absent when closed)."""
    return f"herald:breaker:{account}"


@dataclass
class Journal:
    """What a claim's journal says: the quota windows it reserved and the calls that started."""

    scopes: list = field(default_factory=list)
    started: set[int] = field(default_factory=set)
    answers: dict[int, SendResult] = field(default_factory=dict)
    heartbeat: int | None = None


def open_journal(token, scopes: list, ttl_seconds: float) -> None:
    """Start a claim's journal (before its rows are leased); raises if Redis is unreachable."""
    meta = json.dumps([[s.name, s.limit, s.start.isoformat(), s.end.isoformat(), s.account] for s in scopes])
    pipe = get_redis().pipeline()
    pipe.hset(journal_key(token), "meta", meta)
    pipe.pexpire(journal_key(token), int(ttl_seconds * 1000))
    pipe.execute()


def encode_answer(result: SendResult) -> str:
    """A gateway answer as one journal entry."""
    if isinstance(result, Accepted):
        cost = None if result.cost is None else str(result.cost)
        return json.dumps(["A", result.provider_message_id, cost, result.currency, result.segments])
    retry_after = getattr(result, "retry_after", None)
    kind = next((_KINDS[cls] for cls in type(result).__mro__ if cls in _KINDS), "U")
    return json.dumps([kind, result.code, result.detail[:200], retry_after])


def decode_answer(raw: str) -> SendResult:
    """Rebuild a gateway answer from its journal entry."""
    kind, *rest = json.loads(raw)
    if kind == "A":
        pid, cost, currency, segments = rest
        return Accepted(pid, None if cost is None else Decimal(cost), currency, segments)
    code, detail, retry_after = rest
    if issubclass(_TYPES[kind], TemporaryError):
        return _TYPES[kind](code, detail, retry_after=retry_after)
    return _TYPES[kind](code, detail)


def start_calls(token, broadcast_id, account: str, message_ids: list[int], ttl_seconds: float,
                answers: list[tuple[int, str]] = (), addresses: list[str] = (), optout_key: str | None = None) -> str:
    """Enter answers heard and calls about to start; 'ok', 'optout:<positions>', or why not ('status:paused', …).

    With `optout_key` (and each message's address) the calls start only if no recipient opted out
    since the claim; otherwise nothing starts and the positions of those who did are returned.
    """
    key = journal_key(token)
    flag = guard.flag_key(broadcast_id) if broadcast_id else key
    pairs = [item for pair in answers for item in pair]
    checked = list(addresses) if optout_key else []
    return _script(_START_CALLS)(
        keys=[key, flag, breaker_key(account), optout_key or key, hold_key(account)],
        args=[int(ttl_seconds * 1000), "1" if broadcast_id else "0", len(answers), *pairs, len(message_ids),
              *message_ids, *checked])


def hold_account(account: str, seconds: float) -> None:
    """Hold every call of an account, on every lane and worker, until a gateway's Retry-After passes."""
    _script(_HOLD)(keys=[hold_key(account)], args=[max(1, int(seconds * 1000))])


def note_answers(token, answers: list[tuple[int, str]], ttl_seconds: float) -> None:
    """Enter answers heard, before a lane sleeps or stops."""
    if answers:
        _script(_NOTE_ANSWERS)(keys=[journal_key(token)],
                               args=[int(ttl_seconds * 1000), *[item for pair in answers for item in pair]])


def heartbeat(token, ttl_seconds: float) -> bool:
    """Say the claim's worker is alive and still holds its outcomes; False if the journal is gone."""
    return bool(_script(_HEARTBEAT)(keys=[journal_key(token)], args=[int(ttl_seconds * 1000)]))


def read_journals(tokens: list) -> dict[str, Journal | None]:
    """Every listed claim's journal (None where Redis no longer has it), in one round trip."""
    pipe = get_redis().pipeline()
    for token in tokens:
        pipe.hgetall(journal_key(token))
    return {str(token): _parse(raw) for token, raw in zip(tokens, pipe.execute())}


ALIVE = "alive"


def fence_journals(tokens: list, lease_seconds: float) -> dict[str, "Journal | None | str"]:
    """Fence every listed claim whose worker is not beating and return its journal, in one round trip.

    A fenced journal starts no call any more, so what the reaper reads is all that was started.
    Each value is the journal, None where Redis no longer has it, or ALIVE for a claim left to its
    live worker (not fenced).
    """
    fence = _script(_FENCE)
    pipe = get_redis().pipeline(transaction=False)
    for token in tokens:
        fence(keys=[journal_key(token)], args=[int(lease_seconds)], client=pipe)
    found = {}
    for token, raw in zip(tokens, pipe.execute()):
        if raw == ALIVE:
            found[str(token)] = ALIVE
        else:
            found[str(token)] = _parse(dict(zip(raw[::2], raw[1::2]))) if raw else None
    return found


def _parse(raw: dict) -> Journal | None:
    """Decode a journal hash."""
    if not raw or "meta" not in raw:
        return None
    started = {int(k[len(_STARTED_PREFIX):]) for k in raw if k.startswith(_STARTED_PREFIX)}
    answers = {int(k[len(_RESULT_PREFIX):]): decode_answer(v) for k, v in raw.items() if k.startswith(_RESULT_PREFIX)}
    scopes = [Scope(name, limit, datetime.fromisoformat(start), datetime.fromisoformat(end), *account)
              for name, limit, start, end, *account in json.loads(raw["meta"])]
    return Journal(scopes, started, answers, int(raw["hb"]) if "hb" in raw else None)


def close_journals(tokens: list) -> None:
    """Drop journals whose claims are settled."""
    if tokens:
        get_redis().delete(*[journal_key(t) for t in tokens])

