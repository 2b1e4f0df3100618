"""An operator closes a gateway account's circuit breaker: one call, audited, whatever opened it.

Accounts are shared by every service, so the close is an account-level act: audited once with no
broadcast (and the caller's service when an API key made it), then each broadcast the breaker had
paused resumes, audited on that broadcast with the operator as actor. Fresh failures open the
breaker again (half-open), as after an operator's resume.
"""
from __future__ import annotations

import logging

from app.errors import NotFound
from app.extensions import db
from app.services.control import gateways
from app.services.sending import blocked_carriers, breaker
from app.services.state import broadcast_state

log = logging.getLogger(__name__)


def close_breaker(account: str, actor: str, service_id: int | None = None) -> dict:
    """Close the account's breaker and resume what it paused; 404 naming an unknown account, nothing changed."""
    if account not in gateways.accounts():
        raise NotFound("no such gateway account", {"account": account})
    had = breaker.close(account)
    why = f"circuit breaker of {account} closed by an operator"
    broadcast_state.record_audit(service_id, None, actor, "close_breaker", reason=had or "closed already",
                                 details={"account": account, "was_open": had is not None})
    db.session.commit()
    log.warning("%s (%s; it was %s)", why, actor, had or "closed")
    resumed = breaker.resume_paused_on(account, actor, why)
    resumed += blocked_carriers.resume_unblocked((breaker.DOWN, breaker.REJECTED), actor, why)
    return {"account": account, "was_open": had is not None, "reason": had,
            "resumed": [str(bid) for bid in resumed]}
