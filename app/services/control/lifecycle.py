"""An operator's lifecycle verbs on a broadcast: pause (or hold a system pause), resume, cancel."""
from __future__ import annotations

from app.services.sending import blocked_carriers, breaker
from app.services.state import broadcast_state
from app.statuses import PausedReason

OPERATOR = PausedReason.OPERATOR


def operator_move(broadcast_id, action: str, actor: str, service_id: int, reason: str | None) -> None:
    """Apply the verb; 404/409 when the broadcast is not the service's or its status forbids it."""
    if action == "pause" and broadcast_state.apply(broadcast_id, "hold", actor=actor, reason=reason or "operator hold",
                                                   service_id=service_id, paused_reason=OPERATOR, strict=False):
        # Paused by the system (quota, gateway): now the operator's, so nothing resumes it by itself.
        return
    if action == "resume":
        # The operator vouches for the gateway: the account's breaker closes, half-open.
        breaker.close_for_operator(broadcast_id, service_id)
        blocked_carriers.close_for_operator(broadcast_id)
    broadcast_state.apply(broadcast_id, action, actor=actor, reason=reason or f"operator {action}",
                          service_id=service_id, paused_reason=OPERATOR if action == "pause" else None)
