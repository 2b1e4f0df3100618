"""GET /version1/user: AT's user data, the endpoint Herald's circuit breaker probes."""
from __future__ import annotations


def user(sandbox, api_key=None, username=None):
    """GET /version1/user as Herald's AT adapter does (the sandbox's own credentials by default)."""
    api_key, username = api_key or sandbox.api_key, username or sandbox.username
    return sandbox.http.get(f"{sandbox.base_url}/version1/user", params={"username": username},
                            headers={"apiKey": api_key, "Accept": "application/json"}, timeout=10)


def test_user_data_answers_the_balance_in_the_account_currency(sandbox):
    response = user(sandbox)
    assert response.status_code == 200
    assert response.json()["UserData"]["balance"].startswith("ZMW ")


def test_a_wrong_key_or_username_is_refused_as_at_does(sandbox):
    for response in (user(sandbox, api_key="wrong"), user(sandbox, username="someone-else")):
        assert response.status_code == 401
        assert response.text == "The supplied authentication is invalid"


def test_probing_records_no_send(sandbox):
    user(sandbox)
    ledger = sandbox.ledger()
    assert (ledger["requests"], ledger["accepted"]) == (0, 0)
