"""Factories for contact and segment tests: CSV text, imports, and row counts."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db

HEADER = "external_id,phone,email,language,consent_sms,district,crop,hectares"
# Eight farmers: district, crop, hectares; f8 withdrew SMS consent, f7 has a landline.
FARMERS = [
    "f1,+260961000001,a@x.org,en,yes,Chipata,maize,2",
    "f2,0971000002,,bem,yes,Chipata,cotton,5",
    "f3,+260951000003,,ny,yes,Lundazi,maize,10",
    "f4,+260761000004,,en,,Mambwe,maize,",
    "f5,+260771000005,,bem,yes,Lundazi,groundnuts,1.5",
    "f6,+260961000006,,,yes,,maize,7",
    "f7,+260211234567,,en,yes,Chipata,maize,3",
    "f8,+260961000008,,ny,no,Chipata,maize,4",
]


def csv_bytes(rows: list[str], header: str = HEADER) -> bytes:
    """A CSV file as bytes."""
    return ("\n".join([header, *rows]) + "\n").encode()


def import_rows(app, service_id: int, rows: list[str], header: str = HEADER) -> dict:
    """Import through the service layer, as the API does."""
    from app.services.audience import contacts

    with app.app_context():
        return contacts.import_csv(service_id, csv_bytes(rows, header), "ZM", 1000, 100)


def scalar(app, sql: str, **params):
    """One value from the test database."""
    with app.app_context():
        value = db.session.execute(text(sql), params).scalar()
        db.session.rollback()
        return value


def contact_count(app) -> int:
    """Contacts in the database."""
    return scalar(app, "SELECT count(*) FROM contacts")
