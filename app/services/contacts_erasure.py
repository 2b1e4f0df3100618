"""Erasing a person: the contact row, and their addresses in every past message of the service.

Counts survive: each message row stays with its status and cost, its recipient replaced by a
tombstone unique to the row (messages is UNIQUE (broadcast_id, recipient), so one shared
placeholder would collide), its personalisation dropped. Unsent rows are cancelled, so nothing
is ever sent to a tombstone. The gateway's delivery reports lose the phone number they carried.
"""
from __future__ import annotations

from sqlalchemy import text

from app.errors import NotFound
from app.extensions import db

TOMBSTONE_PREFIX = "erased:"
_LOCK = text("""
SELECT phone, whatsapp, email, inbox_user_id FROM contacts
 WHERE service_id = :sid AND external_id = :xid FOR UPDATE
""")
# Rows still pending are cancelled here, outside message_state, because a recipient that no longer
# exists cannot be claimed; rows a worker holds keep their status and are settled by their claim.
_ERASE_MESSAGES = text("""
UPDATE messages SET recipient = :prefix || id, personalisation = NULL,
       status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
       error_code = CASE WHEN status = 'pending' THEN 'contact_erased' ELSE error_code END,
       finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END, updated_at = now()
 WHERE service_id = :sid AND recipient = ANY(:addresses)
RETURNING provider_message_id
""")
_SCRUB_REPORTS = text("""
UPDATE delivery_events SET payload = payload - 'phoneNumber'
 WHERE provider_message_id = ANY(:ids) AND payload ? 'phoneNumber'
""")
_DELETE = text("DELETE FROM contacts WHERE service_id = :sid AND external_id = :xid")


def erase(service_id: int, external_id: str) -> int:
    """Delete a contact and scrub its addresses from the service's messages in one transaction; messages erased."""
    row = db.session.execute(_LOCK, {"sid": service_id, "xid": external_id}).first()
    if row is None:
        db.session.rollback()
        raise NotFound("no such contact", {"external_id": external_id})
    addresses = [address for address in row if address]
    erased = []
    if addresses:
        erased = db.session.execute(_ERASE_MESSAGES, {"prefix": TOMBSTONE_PREFIX, "sid": service_id,
                                                      "addresses": addresses}).all()
    provider_ids = [pid for (pid,) in erased if pid]
    if provider_ids:
        db.session.execute(_SCRUB_REPORTS, {"ids": provider_ids})
    db.session.execute(_DELETE, {"sid": service_id, "xid": external_id})
    db.session.commit()
    return len(erased)
