"""POST /v1/broadcasts with dry_run: counts, encoding, UCS-2 culprits, segments, costs; writes nothing."""
from __future__ import annotations

from herald_testing import count_rows, post_json, recipients


def dry_run(client, service, body, recips, **extra):
    """POST a dry run and return the response."""
    return post_json(client, service, "/v1/broadcasts",
                     {"channel": "sms", "body": body, "recipients": recips, "dry_run": True, **extra})


def test_a_gsm7_dry_run_counts_and_prices_per_carrier(client, service, app):
    recips = recipients(5, prefixes=("96", "97", "95")) + [{"to": "not a number"}, {"to": "+260961000000"}]
    response = dry_run(client, service, "Rain expected tomorrow. Move cattle {early}.", recips)
    assert response.status_code == 200
    body = response.json
    assert (body["recipients"], body["audience"], body["rejected"], body["duplicates"]) == (7, 5, 1, 1)
    assert body["encoding"] == "GSM-7" and body["ucs2_characters"] == []
    assert body["segments_histogram"] == {"1": 5}
    by_carrier = body["cost"]["by_carrier"]
    assert by_carrier["MTN"] == {"messages": 2, "segments": 2, "price_per_segment": "0.25", "cost": "0.50"}
    assert by_carrier["Airtel"]["cost"] == "0.48" and by_carrier["ZAMTEL"]["cost"] == "0.22"
    assert body["cost"] == {**body["cost"], "currency": "ZMW", "total": "1.20"}
    assert len(body["sample"]) == 5 and body["sample"][0]["body"].startswith("Rain")
    assert count_rows(app) == (0, 0)


def test_one_smart_quote_turns_the_message_ucs2_and_is_named(client, service, app):
    text = "Rain expected tomorrow – don’t plant yet. " * 2  # 84 characters: 1 part in GSM-7, 2 in UCS-2
    body = dry_run(client, service, text, recipients(3, prefixes=("96",))).json
    assert body["encoding"] == "UCS-2"
    assert [c["character"] for c in body["ucs2_characters"]] == ["–", "’"]
    assert body["ucs2_characters"][0] == {"character": "–", "codepoint": "U+2013", "messages": 3}
    assert body["segments_histogram"] == {"2": 3} and body["cost"]["total"] == "1.50"
    fixed = dry_run(client, service, text, recipients(3, prefixes=("96",)), transliterate=True).json
    assert fixed["encoding"] == "GSM-7" and fixed["segments_histogram"] == {"1": 3}
    assert fixed["sample"][0]["body"].startswith("Rain expected tomorrow - don't")
    assert count_rows(app) == (0, 0)


def test_personalisation_makes_a_histogram(client, service):
    recips = [{"to": r["to"], "personalisation": {"note": "x" * n}} for r, n in
              zip(recipients(3, prefixes=("97",)), (10, 200, 400))]
    body = dry_run(client, service, "Hello ((note))", recips).json
    assert body["segments_histogram"] == {"1": 1, "2": 1, "3": 1}
    assert body["segments"] == 6 and body["cost"]["total"] == "1.44"


def test_bemba_text_is_ucs2_and_missing_values_are_rejected_with_the_reason(client, service):
    recips = [{"to": "+260961000001", "personalisation": {"name": "Chanda"}}, {"to": "+260961000002"}]
    body = dry_run(client, service, "Mwaiseni ((name)), ŋombe shenu", recips).json
    assert body["encoding"] == "UCS-2" and body["ucs2_characters"][0]["character"] == "ŋ"
    assert body["audience"] == 1 and body["rejected_by_reason"] == {"missing_personalisation": 1}


def test_dry_run_must_be_a_boolean(client, service):
    response = dry_run(client, service, "Rain", recipients(1), dry_run="yes")
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "dry_run"
