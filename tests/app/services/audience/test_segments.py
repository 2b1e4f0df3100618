"""The segment filter language: every operator as SQL over real contacts, bad filters, injection attempts."""
from __future__ import annotations

import pytest
from contacts_testing import FARMERS, contact_count, import_rows

from app.errors import ValidationFailed
from app.services.audience import segments
from app.services.audience.segments_filter import compile_filter


@pytest.fixture
def farmers(app, service):
    """The eight farmers of contacts_testing, imported for this service."""
    import_rows(app, service.service_id, FARMERS)
    return service


def selected(app, service_id: int, spec) -> set[str]:
    """External ids the filter selects."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        compiled = segments.checked_filter(service_id, spec)
        rows = db.session.execute(text(f"SELECT external_id FROM contacts c WHERE c.service_id = :sid AND "
                                       f"{compiled.sql}"), {**compiled.params, "sid": service_id}).scalars()
        ids = set(rows)
        assert segments.count(service_id, compiled) == len(ids)
        return ids


def ids(*numbers: int) -> set[str]:
    """{'f1', 'f3', ...}."""
    return {f"f{n}" for n in numbers}


@pytest.mark.parametrize("spec,expected", [
    ({"field": "language", "eq": "bem"}, ids(2, 5)),
    ({"field": "language", "ne": "en"}, ids(2, 3, 5, 8)),
    ({"field": "language", "in": ["ny", "bem"]}, ids(2, 3, 5, 8)),
    ({"field": "language", "exists": False}, ids(6)),
    ({"field": "carrier", "eq": "Airtel"}, ids(2, 5)),
    ({"field": "email", "exists": True}, ids(1)),
    ({"field": "attributes.crop", "eq": "maize"}, ids(1, 3, 4, 6, 7, 8)),
    ({"field": "attributes.district", "in": ["Lundazi", "Mambwe"]}, ids(3, 4, 5)),
    ({"field": "attributes.hectares", "gte": 2, "lt": 7}, ids(1, 2, 7, 8)),
    ({"field": "attributes.hectares", "gt": 4.5}, ids(2, 3, 6)),
    ({"field": "attributes.hectares", "lte": 1.5}, ids(5)),
    ({"field": "attributes.district", "lt": "D"}, ids(1, 2, 7, 8)),
    ({"field": "attributes.hectares", "exists": False}, ids(4)),
    ({"field": "attributes.hectares", "eq": 10}, ids(3)),
    ({"field": "consent.sms", "eq": True}, ids(1, 2, 3, 5, 6, 7)),
    ({"field": "consent.sms", "eq": False}, ids(8)),
    ({"field": "consent.sms", "exists": False}, ids(4)),
    ({"field": "created_at", "gte": "2000-01-01T00:00:00Z"}, ids(*range(1, 9))),
    ({"not": {"field": "attributes.district", "eq": "Chipata"}}, ids(3, 4, 5, 6)),
    ({"and": [{"field": "attributes.crop", "eq": "maize"},
              {"or": [{"field": "attributes.district", "eq": "Lundazi"},
                      {"and": [{"field": "attributes.district", "eq": "Chipata"},
                               {"not": {"field": "consent.sms", "eq": False}}]}]}]}, ids(1, 3, 7)),
    ({"or": [{"field": "language", "eq": "ny"}, {"not": {"field": "attributes.hectares", "exists": True}}]},
     ids(3, 4, 8)),
])
def test_every_operator_selects_exactly_its_contacts(app, farmers, spec, expected):
    assert selected(app, farmers.service_id, spec) == expected


@pytest.mark.parametrize("spec,field", [
    ({"field": "district", "eq": "Chipata"}, "filter.field"),
    ({"and": [{"field": "language", "eq": "en"}, {"field": "attributes.soil", "eq": "clay"}]}, "attributes.soil"),
    ({"field": "language", "eq": 3}, "filter.eq"),
    ({"field": "language", "in": "en"}, "filter.in"),
    ({"field": "attributes.crop", "exists": "yes"}, "filter.exists"),
    ({"field": "attributes.crop", "in": [["nested"]]}, "filter.in[0]"),
    ({"field": "consent.sms", "eq": "yes"}, "filter.eq"),
    ({"field": "consent.fax", "eq": True}, "filter.field"),
    ({"field": "created_at", "eq": "2026-01-01T00:00:00Z"}, "filter.eq"),
    ({"field": "created_at", "gt": "yesterday"}, "filter.gt"),
    ({"field": "language", "like": "e%"}, "filter.like"),
    ({"or": []}, "filter.or"),
    ({"not": {"field": "language", "eq": "en"}, "and": []}, "filter"),
    ({"and": [{"field": "language", "eq": "en"}, "language = 'en'"]}, "filter.and[1]"),
])
def test_unknown_fields_and_wrong_types_are_422_naming_the_field(app, farmers, spec, field):
    with app.app_context(), pytest.raises(ValidationFailed) as caught:
        segments.checked_filter(farmers.service_id, spec)
    assert caught.value.details["field"] == field


@pytest.mark.parametrize("name", ["crop'; DROP TABLE contacts; --", "crop')::text OR true OR ('", "a b", "1crop",
                                  "crop->>'x'"])
def test_injection_in_attribute_names_is_refused(app, farmers, name):
    with app.app_context(), pytest.raises(ValidationFailed):
        segments.checked_filter(farmers.service_id, {"field": f"attributes.{name}", "eq": "maize"})
    assert contact_count(app) == 8


@pytest.mark.parametrize("value", ["maize' OR '1'='1", "x'); DROP TABLE contacts; --", "%", "maize\\"])
def test_injection_in_values_stays_data(app, farmers, value):
    assert selected(app, farmers.service_id, {"field": "attributes.crop", "eq": value}) == set()
    assert selected(app, farmers.service_id, {"field": "attributes.crop", "in": [value, "cotton"]}) == ids(2)
    assert selected(app, farmers.service_id, {"field": "language", "gt": value}) <= ids(*range(1, 9))
    assert contact_count(app) == 8


def test_values_and_attribute_names_are_bind_parameters_not_sql():
    compiled = compile_filter({"and": [{"field": "attributes.crop", "eq": "maize' --"},
                                       {"field": "language", "in": ["en"]}]})
    assert "maize" not in compiled.sql and "crop" not in compiled.sql
    assert sorted(compiled.params.values(), key=str) == [["en"], "crop", "maize' --"]


def test_saved_segments_are_per_service_and_named_once(app, farmers):
    from herald_testing import make_service

    other = make_service(app, "programme-b")
    spec = {"field": "attributes.crop", "eq": "maize"}
    with app.app_context():
        segments.save(farmers.service_id, "maize", spec)
        with pytest.raises(Exception) as caught:
            segments.save(farmers.service_id, "maize", spec)
        assert caught.value.status == 409
        assert [s["name"] for s in segments.all_segments(other.service_id)] == []
        with pytest.raises(ValidationFailed):
            segments.save(other.service_id, "maize", spec)  # programme-b has no contact with a crop
