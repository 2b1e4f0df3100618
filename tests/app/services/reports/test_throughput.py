"""Send-rate counters: the recent rate and the five-minute history the dashboard charts."""
from __future__ import annotations

import time

from app.services.reports import throughput


def test_history_buckets_the_per_second_counters(app, clean, monkeypatch):
    now = 1_800_000_003.5  # 3.5 s into a 5 s step
    monkeypatch.setattr(throughput.time, "time", lambda: now)
    with app.app_context():
        throughput.note_sent("b1", 40)  # this second: in the unfinished step, not charted yet
        monkeypatch.setattr(throughput.time, "time", lambda: now - 4)  # the step before
        throughput.note_sent("b1", 25)
        throughput.note_sent("b1", 5)
        monkeypatch.setattr(throughput.time, "time", lambda: now - 299)  # the oldest step kept
        throughput.note_sent("b1", 10)
        throughput.note_sent("other", 999)
        monkeypatch.setattr(throughput.time, "time", lambda: now)
        history = throughput.rate_history("b1")
    assert len(history) == 60
    assert history[-1] == {"at": 1_800_000_000, "rate": 6.0}
    assert history[0] == {"at": 1_800_000_000 - 295, "rate": 2.0}
    assert sum(point["rate"] for point in history[1:-1]) == 0
    assert [p["at"] for p in history] == sorted(p["at"] for p in history)


def test_summary_carries_the_history(client, service):
    response = client.post("/v1/broadcasts", headers=service.headers,
                           json={"channel": "sms", "body": "Rains from Monday", "scheduled_for":
                                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                                 "recipients": [{"to": "+260961000001"}]})
    summary = client.get(f"/v1/broadcasts/{response.json['id']}", headers=service.headers).json
    assert len(summary["send_rate_history"]) == 60
    assert {point["rate"] for point in summary["send_rate_history"]} == {0}
