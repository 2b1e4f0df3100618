"""The OpenAPI document's accounts part: blocked carriers in a summary, closing an account's breaker."""
from __future__ import annotations

from app.api.openapi_kit import INTEGER, STRING, TIME, array, fails, nullable, obj, op, ref, reply
from app.statuses import MessageStatus, PausedReason

REASON = {**STRING, "enum": [PausedReason.GATEWAY_DOWN.value, PausedReason.GATEWAY_REJECTED.value]}
BLOCKED_CARRIER = obj({
    "country": STRING, "carrier": STRING, "reason": REASON, "since": TIME,
    "accounts": {**array(STRING), "description": "The route key's candidate accounts, every one's breaker open."},
    MessageStatus.PENDING: {**INTEGER, "description": "The broadcast's pending messages waiting on this carrier."}},
    "A route key (country, carrier; \"*\" for any) whose every route's account has an open breaker.")
SUMMARY_FIELDS = {
    "blocked_carriers": {**array(ref("BlockedCarrier")),
                         "description": "Routed broadcasts: carriers waiting for a route, each block and unblock "
                                        "audited (carrier_blocked, carrier_unblocked). Blocked rows are not "
                                        "claimed; when nothing else is left the broadcast pauses with the reason."},
    "empty_claims": {**INTEGER, "description": "Send batches that found nothing to claim (diagnostic)."},
}
ACCOUNT_SCHEMAS = {
    "BlockedCarrier": BLOCKED_CARRIER,
    "BreakerClosed": obj({"account": STRING, "was_open": {"type": "boolean"}, "reason": nullable(REASON),
                          "resumed": {**array({**STRING, "format": "uuid"}),
                                      "description": "Broadcasts (of any service) this breaker had paused, resumed."}}),
}
ACCOUNT_PATHS = {
    "/v1/accounts/{account}/breaker/close": {"post": op(
        "closeAccountBreaker", "operations", "Close a gateway account's circuit breaker (audited)", {
            "200": reply("Closed (half-open: fresh failures open it again); what it paused resumes.",
                         ref("BreakerClosed")),
            **fails("NotFound")},
        description="Accounts are shared by every service, so any service's API key may close any account's "
                    "breaker, as its resume of a broadcast the breaker paused already does. The close is audited "
                    "with the key, and each broadcast resumed is audited with it too.")},
}
