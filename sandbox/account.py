"""GET /version1/user: AT's user-data endpoint (the account's balance), which Herald probes."""
from __future__ import annotations

from sandbox import responses as r
from sandbox.gateway import Gateway
from sandbox.messaging import AUTH_FAILED

# The sandbox never runs out of credit; AT answers the balance as "<currency> <amount>".
BALANCE = "100000.0000"


def user_data(environ: dict, gateway: Gateway) -> r.Response:
    """The account's UserData, or AT's 401 when the apiKey or ?username= does not match."""
    settings = gateway.settings
    username = r.query(environ).get("username")
    if (settings.auth_refused() or environ.get("HTTP_APIKEY") != settings.api_key
            or username != settings.username):
        return r.text_response(401, AUTH_FAILED)
    return r.json_response(200, {"UserData": {"balance": f"{settings.currency} {BALANCE}"}})
