"""The load check runs end to end against a real sandbox (tiny load, both clients)."""
from __future__ import annotations

import argparse

import pytest

from sandbox import loadcheck


@pytest.mark.parametrize("client", ["urllib3", "raw"])
def test_loadcheck_counts_match_the_ledger(sandbox, client, monkeypatch):
    monkeypatch.setattr("sandbox.loadgen.API_KEY", sandbox.api_key)
    monkeypatch.setattr("sandbox.loadgen.USERNAME", sandbox.username)
    args = argparse.Namespace(
        url=sandbox.base_url, requests=40, recipients=3, threads=2, procs=1, latency_ms=0.0, client=client
    )
    summary = loadcheck.run(args)
    assert summary["statuses"] == {"201": 40}
    assert summary["server_accepted"] == 120
    assert summary["server_duplicates"] == 0
    assert summary["connections_opened"] == 2
    assert summary["req_per_s"] > 0
