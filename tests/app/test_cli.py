"""`flask herald ...` through Flask's CLI runner against the real database."""
from __future__ import annotations

from herald_testing import make_service


def key_id(app, service) -> int:
    """The id of the service's only key, as `list-keys` prints it."""
    result = app.test_cli_runner().invoke(args=["herald", "list-keys", str(service.service_id)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("live") and service.key not in result.output
    return int(lines[0].split("\t")[0])


def test_a_revoked_key_answers_401_at_once(app, client, service):
    assert client.get("/v1/quotas", headers=service.headers).status_code == 200
    runner = app.test_cli_runner()
    result = runner.invoke(args=["herald", "revoke-key", str(key_id(app, service))])
    assert result.exit_code == 0 and "revoked" in result.output
    response = client.get("/v1/quotas", headers=service.headers)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    listed = runner.invoke(args=["herald", "list-keys", str(service.service_id)]).output
    assert "\trevoked " in listed


def test_revoking_leaves_the_services_other_keys_working(app, client, service):
    runner = app.test_cli_runner()
    first_id = key_id(app, service)
    second = runner.invoke(args=["herald", "create-key", str(service.service_id), "--name", "backup"]).output.strip()
    assert runner.invoke(args=["herald", "revoke-key", str(first_id)]).exit_code == 0
    assert client.get("/v1/quotas", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_revoking_twice_or_an_unknown_key(app, service):
    runner = app.test_cli_runner()
    first_id = key_id(app, service)
    assert runner.invoke(args=["herald", "revoke-key", str(first_id)]).exit_code == 0
    again = runner.invoke(args=["herald", "revoke-key", str(first_id)])
    assert again.exit_code == 0 and "already revoked" in again.output
    unknown = runner.invoke(args=["herald", "revoke-key", "999999"])
    assert unknown.exit_code != 0 and "no API key with id 999999" in unknown.output


def test_another_services_keys_are_not_listed(app, service):
    other = make_service(app, "programme-b")
    result = app.test_cli_runner().invoke(args=["herald", "list-keys", str(other.service_id)])
    assert len(result.output.strip().splitlines()) == 1
