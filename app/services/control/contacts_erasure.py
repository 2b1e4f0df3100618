"""Erasing a person: the contact row, and their addresses in every past message and report of the service.

Counts survive: each message row stays with its status and cost, its recipient replaced by a
tombstone unique to the row, its personalisation dropped. Unsent rows are cancelled and rows a
worker holds are cancelled on their way back to the queue (message_state), so nothing is ever sent
to a tombstone. Stored delivery reports lose every field that held the address, whichever gateway
sent them (report_addresses); reports arriving later are stored without it (delivery_reports).
The suppression list, its events and the inbound keyword records keep a keyed pseudonym in place
of the address, so that the person stays suppressed without their number being kept (optouts).
The erasure answers with a receipt, also written to the audit log, that never holds the address.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

from app.errors import NotFound
from app.extensions import db
from app.services.audience import optouts
from app.services.channels import registry
from app.services.control import dead_letters
from app.services.reports import delivery_reports
from app.services.state import broadcast_state, message_parts, message_state

TOMBSTONE_PREFIX = message_state.TOMBSTONE_PREFIX
_LOCK = text("""
SELECT phone, whatsapp, email, inbox_user_id FROM contacts
 WHERE service_id = :sid AND external_id = :xid FOR UPDATE
""")
_DELETE = text("DELETE FROM contacts WHERE service_id = :sid AND external_id = :xid")
KEPT_WHY = ("the suppression list keeps a keyed pseudonym of each address instead of the address, so the person "
            "stays suppressed if the number is imported again; its opt-out events and inbound keywords are the "
            "evidence for it, kept under the pseudonym and without the texts the person sent")


def erase(service_id: int, external_id: str, actor: str = "api") -> dict:
    """Delete a contact and scrub its addresses from the service's data in one transaction; the receipt.

    Raises NotFound (and changes nothing) when the service has no such contact.
    """
    row = db.session.execute(_LOCK, {"sid": service_id, "xid": external_id}).first()
    if row is None:
        db.session.rollback()
        raise NotFound("no such contact", {"external_id": external_id})
    addresses = _addresses(row)
    erased = message_state.tombstone_recipients(service_id, addresses) if addresses else []
    # Every part's receipt of a long message carries the address too, under the part's own id.
    provider_ids = ([r.provider_message_id for r in erased if r.provider_message_id]
                    + message_parts.part_ids([r.id for r in erased if r.provider_message_id]))
    receipt = {
        "external_id": external_id,
        "erased_at": datetime.now(timezone.utc).isoformat(),
        "contact_deleted": True,
        "messages_tombstoned": len(erased),
        "messages_cancelled": sum(1 for r in erased if r.cancelled),
        "reports_scrubbed": delivery_reports.scrub_reports(provider_ids, addresses) if provider_ids else 0,
        "dead_letters_closed": dead_letters.close_for_erasure([r.id for r in erased], addresses, actor),
        **optouts.minimise_for_erasure(service_id, registry.known(), addresses),
        "kept_why": KEPT_WHY,
    }
    db.session.execute(_DELETE, {"sid": service_id, "xid": external_id})
    broadcast_state.record_audit(service_id, None, actor, "erase_contact", reason=f"contact {external_id}",
                                 details=receipt)
    db.session.commit()
    if addresses:
        optouts.withhold_erased(service_id, registry.known(), addresses)
    return receipt


def _addresses(row) -> list[str]:
    """The contact's addresses as messages and lists store them (an e-mail also lower-cased)."""
    found = {address for address in row if address}
    found |= {address.lower() for address in found if "@" in address}
    return sorted(found)
