"""One compile, one judge: a segment broadcast, a list broadcast of the same contacts and both dry runs agree.

A thousand contacts, a template with Bemba and Nyanja variants, `transliterate`, defaults,
conditional text and truncation: the rows each broadcast stores, the text the send path renders
from them, its parts and cost, and the dry run of either are the same, recipient by recipient.
"""
from __future__ import annotations

from decimal import Decimal
from functools import partial

from contacts_testing import import_rows
from herald_testing import post_json
from sqlalchemy import text

from app.extensions import db
from app.services.intake import preview, segments_audience, templates_store
from app.services.intake.broadcast_content import Candidate, Content, Scan, for_broadcast, judge
from app.services.channels.recipients import Verdict
from app.services.content.templates import compile_template
from app.services.intake.broadcast_request import parse_spec
from app.services.intake.recipient_list import RecipientList
from app.services.sending.send_context import load_send_context, outbound_messages
from providers.parts import count_segments

COUNT = 1000
HEADER = "external_id,phone,language,district,name,hectares"
LANGUAGES = ("en", "bem", "nya", "", "fr")
TEMPLATES = {
    "": "Dear ((name|default:friend)), rain in ((district|truncate:8)) from Monday – don’t plant yet."
        "((hectares?? Cover your seed.))",
    "bem": "Mwaiseni ((name|default:mwe)), imfula ku ((district|truncate:8)) “Monday”.((hectares?? Fimbeni.))",
    "nya": "Moni ((name|upper)), mvula ku ((district|sub:0,6)) Lolemba…",
}
ALL_CONTACTS = {"field": "phone", "exists": True}
REQUEST = {"channel": "sms", "template": "advisory", "transliterate": True}
MAX_CHARS = 1000


def _name(i: int) -> str:
    """Empty (a default, or missing for Nyanja), UCS-2, far too long, with a smart quote, or plain."""
    if i % 7 == 0:
        return ""
    return "Ŋoma" if i % 11 == 0 else "N" * 990 if i % 13 == 0 else "O’Neill" if i % 19 == 0 else f"Chanda{i}"


def _district(i: int) -> str:
    """Cut by the filters; some far longer than a message may be before they cut it."""
    return "Lundazi-North-East" if i % 4 == 0 else "D" * 990 if i % 17 == 0 else "Chipata"


def _phone(i: int) -> str:
    """Mobiles over three carriers, a landline now and then, and one number two contacts share."""
    if i % 97 == 0:
        return f"+260211{i:06d}"
    return _phone(500) if i == 501 else f"+260{('96', '97', '95', '76', '77')[i % 5]}{1000000 + i:07d}"


def contact_rows() -> list[str]:
    """The CSV lines of the thousand contacts."""
    return [f"c{i},{_phone(i)},{LANGUAGES[i % 5]},{_district(i)},{_name(i)},{'' if i % 3 == 0 else i % 9 + 1}"
            for i in range(COUNT)]


def as_recipient_list(app, service_id: int) -> list[dict]:
    """The same contacts as a recipient list, in id order, personalised as a segment page personalises them."""
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT phone, attributes || jsonb_strip_nulls(jsonb_build_object('external_id', external_id,"
            " 'language', language)) AS p FROM contacts WHERE service_id = :sid ORDER BY id"), {"sid": service_id})
        items = [{"to": row.phone, "personalisation": row.p} for row in rows]
        db.session.rollback()
    return items


def priced(body: str | None, carrier: str | None, prices: dict) -> tuple:
    """(text, parts, cost) of a text sent on a carrier; Nones when nothing is sent."""
    if body is None:
        return None, None, None
    parts = count_segments(body)
    return body, parts, parts * prices[carrier]


def stored(app, broadcast_id: str, prices: dict) -> dict:
    """recipient -> the stored row's judgement, carrier, region, and the send path's text, parts and cost."""
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT id, recipient, personalisation, carrier, region, status, error_code, error_detail"
            " FROM messages WHERE broadcast_id = :b ORDER BY id"), {"b": broadcast_id}).all()
        pending = [row for row in rows if row.status == "pending"]
        texts = {m.to: m.body for m in outbound_messages(load_send_context(broadcast_id), pending)}
        db.session.rollback()
    return {row.recipient: ((row.status, row.error_code, row.error_detail), row.carrier, row.region,
                            *priced(texts.get(row.recipient), row.carrier, prices)) for row in rows}


def dry_run(app, service_id: int, audience, prices: dict) -> dict:
    """recipient -> the dry run's judgement, carrier, region, text, parts and cost, in process."""
    with app.app_context():
        max_chars = app.config["HERALD_MAX_BODY_CHARS"]
        spec = parse_spec(REQUEST, max_chars, partial(templates_store.resolve, service_id))
        found = {c.address: (verdict, c.verdict.carrier, c.verdict.region, *priced(body, c.verdict.carrier, prices))
                 for c, verdict, body in preview.judged(spec, audience(), service_id, max_chars, Scan())}
        db.session.rollback()
    return found


def totals(rows: dict) -> dict:
    """Rejections by reason, the parts histogram and (messages, parts, cost) per carrier of per-recipient rows."""
    rejected, histogram, carriers = {}, {}, {}
    for (status, code, _detail), carrier, _region, _body, parts, cost in rows.values():
        if status == "rejected":
            rejected[code] = rejected.get(code, 0) + 1
        elif status == "pending":
            histogram[str(parts)] = histogram.get(str(parts), 0) + 1
            messages, segments, money = carriers.get(carrier, (0, 0, Decimal(0)))
            carriers[carrier] = (messages + 1, segments + parts, money + cost)
    return {"rejected_by_reason": rejected, "segments_histogram": dict(sorted(histogram.items())),
            "by_carrier": dict(sorted(carriers.items()))}


def stated_totals(answer: dict) -> dict:
    """The same figures as a dry-run answer states them."""
    return {"rejected_by_reason": answer["rejected_by_reason"], "segments_histogram": answer["segments_histogram"],
            "by_carrier": {c: (row["messages"], row["segments"], Decimal(row["cost"]))
                           for c, row in answer["cost"]["by_carrier"].items()}}


def make_audience(app, client, service) -> list[dict]:
    """The thousand contacts, the template in three languages, two numbers on the suppression list; the list."""
    assert import_rows(app, service.service_id, contact_rows(), HEADER)["created"] == COUNT
    for language, body in TEMPLATES.items():
        saved = post_json(client, service, "/v1/templates", {"name": "advisory", "channel": "sms", "body": body,
                                                              "language": language or None})
        assert saved.status_code == 201, saved.json
    for number in (_phone(2), _phone(4)):
        assert post_json(client, service, "/v1/opt-outs", {"address": number}).status_code == 201
    return as_recipient_list(app, service.service_id)


def materialise(app, broadcast_id: str) -> None:
    """Run the producer's paging in process (the function the tick calls) until the audience is all rows."""
    with app.app_context():
        for _ in range(10):
            segments_audience.extend(broadcast_id, app.config["HERALD_AUDIENCE_PAGE"], app.config[
                "HERALD_MAX_BODY_CHARS"])
            if not segments_audience.is_open(broadcast_id):
                return
    raise AssertionError("the audience never finished")


def test_a_segment_and_a_list_of_the_same_contacts_store_send_and_estimate_the_same(app, client, service,
                                                                                    monkeypatch):
    # Contact attributes stop at 1,000 characters: a lower limit lets a long name make a text too long.
    monkeypatch.setitem(app.config, "HERALD_MAX_BODY_CHARS", MAX_CHARS)
    sid = service.service_id
    items = make_audience(app, client, service)
    listed = post_json(client, service, "/v1/broadcasts", {**REQUEST, "recipients": items}).json
    segment = post_json(client, service, "/v1/broadcasts", {**REQUEST, "filter": ALL_CONTACTS}).json
    assert listed["recipients"] == segment["audience"] == COUNT
    materialise(app, segment["id"])
    list_estimate = post_json(client, service, "/v1/broadcasts", {**REQUEST, "recipients": items,
                                                                  "dry_run": True}).json
    segment_estimate = post_json(client, service, "/v1/broadcasts", {**REQUEST, "filter": ALL_CONTACTS,
                                                                     "dry_run": True}).json
    assert segment_estimate == list_estimate
    prices = {c: Decimal(row["price_per_segment"]) for c, row in list_estimate["cost"]["by_carrier"].items()}

    expected = stored(app, listed["id"], prices)
    assert stored(app, segment["id"], prices) == expected
    assert dry_run(app, sid, lambda: RecipientList(items, "ZM"), prices) == expected
    assert dry_run(app, sid, lambda: segments_audience.parse_audience(sid, {"filter": ALL_CONTACTS}),
                   prices) == expected
    assert stated_totals(list_estimate) == totals(expected)
    assert (list_estimate["opted_out"], list_estimate["duplicates"]) == (2, 1)
    for broadcast in (listed, segment):
        summary = client.get(f"/v1/broadcasts/{broadcast['id']}", headers=service.headers).json
        assert (summary["accepted"], summary["rejected"]) == (list_estimate["audience"], list_estimate["rejected"])

    # What is at stake really occurs: variants, transliteration, defaults, conditional text, truncation.
    bodies = {row[3] for row in expected.values() if row[3]}
    assert "Mwaiseni mwe, imfula ku Lunda... \"Monday\". Fimbeni." in bodies
    assert "Moni CHANDA27, mvula ku Chipat... Lolemba..." in bodies
    assert "Dear friend, rain in Chipata from Monday - don't plant yet. Cover your seed." in bodies
    assert "Dear Chanda3, rain in Chipata from Monday - don't plant yet." in bodies
    assert "Dear O'Neill, rain in Lunda... from Monday - don't plant yet. Cover your seed." in bodies
    assert any("DDDDD..." in body for body in bodies)
    assert set(list_estimate["rejected_by_reason"]) == {"message_too_long", "missing_personalisation", "not_mobile"}
    # Only the Bemba letter is UCS-2: no smart quote, in the texts or in a name, slipped through.
    assert [c["character"] for c in list_estimate["ucs2_characters"]] == ["Ŋ"]


MOBILE = Verdict(True, "MTN", None, "Africa/Lusaka", "ZM")


def verdict_of(content: Content, personalisation: dict | None, refusal: str | None = None) -> tuple:
    """judge() of one valid mobile with this personalisation."""
    return judge(content, Candidate("+260961000001", MOBILE, personalisation, None, refusal))


def test_defaults_and_conditionals_are_optional_and_length_is_measured_after_filters():
    content = Content(compile_template("Hi ((name|default:friend)), ((area|truncate:6))((plot?? see plot))"),
                      max_chars=20)
    assert verdict_of(content, {"area": "A" * 500}) == ("pending", None, None)
    assert content.render({"area": "A" * 500}) == "Hi friend, AAA..."
    assert verdict_of(content, {}) == ("rejected", "missing_personalisation", "area")
    assert verdict_of(content, {"area": "Kasama", "name": "Mwansa Mwansa"}) == (
        "rejected", "message_too_long", "24 characters; the limit is 20")


def test_a_refusal_applies_only_to_a_row_that_could_be_sent():
    content = Content(compile_template("Hi ((name))"), max_chars=100)
    assert verdict_of(content, {"name": "Ada"}, "consent_withdrawn") == ("opted_out", "consent_withdrawn", None)
    assert verdict_of(content, {}, "opted_out") == ("rejected", "missing_personalisation", "name")
    landline = Candidate("+260211234567", Verdict(False, None, "not_mobile"), {"name": "Ada"}, None, "opted_out")
    assert judge(content, landline) == ("rejected", "not_mobile", None)


def test_a_stored_broadcast_renders_with_the_variants_and_transliteration_it_was_created_with():
    options = {"transliterate": True, "template": {"name": "t", "version": 1, "language": "",
                                                   "variants": {"bem": {"body": "Mwaiseni ((name))…", "version": 2}}}}
    content = for_broadcast("Hello ((name))", options, "sms")
    assert content.render({"name": "‘Ada’", "language": "bem"}) == "Mwaiseni 'Ada'..."
    assert content.render({"name": "Ada", "language": "fr"}) == "Hello Ada"
