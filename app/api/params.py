"""Path, query and header parameters the views share, each declared once (see app.api.contract)."""
from __future__ import annotations

import uuid

from werkzeug.routing import BaseConverter

from app.api.contract import Param
from app.api.schema_text import BIGINT_MAX, NAME, UUID, integer, matching, text
from app.services.audience.contacts_fields import MAX_VALUE_CHARS, RESERVED_EXTERNAL_IDS as RESERVED_CONTACT_IDS
from app.services.intake.idempotency import MAX_KEY_CHARS
from app.statuses import ALL_MESSAGE_STATUSES


class ContactIdConverter(BaseConverter):
    """A path segment naming a contact: anything but the list's own verbs, which route elsewhere
    (so /v1/contacts/import answers 405 to GET, and its Allow names POST alone)."""

    regex = "(?!(?:" + "|".join(RESERVED_CONTACT_IDS) + r")\Z)[^/]+"


def page_size(default: int, maximum: int) -> Param:
    """A page-size query parameter (its bounds differ per endpoint)."""
    return Param("limit", "query", integer(1, maximum, default=default), "How many rows to answer at most.")


AFTER = Param("after", "query", integer(0, BIGINT_MAX, default=0), "Keyset cursor: the last id of the previous page.")
BROADCAST_ID = Param("broadcast_id", "path", UUID, missing="broadcast", convert=uuid.UUID)
MESSAGE_ID = Param("message_id", "path", integer(0, BIGINT_MAX), missing="message")
DEAD_LETTER_ID = Param("dead_letter_id", "path", integer(0, BIGINT_MAX), missing="dead letter")
# `import` and `export` are no contact's id: as OpenAPI matches concrete paths first, they name the list's own.
EXTERNAL_ID = Param("external_id", "path", text(minLength=1, maxLength=MAX_VALUE_CHARS),
                    "The contact's external id (never `import` or `export`: those are the list's own paths).",
                    missing="contact")
SEGMENT_NAME = Param("name", "path", NAME, missing="segment")
TEMPLATE_NAME = Param("name", "path", NAME, missing="template")
ACCOUNT = Param("account", "path", text(minLength=1), "A configured gateway account (HERALD_ACCOUNTS); any other "
                                                      "name is 404.", missing="account")
WEBHOOK_SECRET = Param("secret", "path", text(minLength=1), "The account's webhook_secret; any other value is 403.")
MESSAGE_STATUS = Param("status", "query", {"type": "string", "enum": list(ALL_MESSAGE_STATUSES)},
                       "Only messages in this status.")
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key", "header",
    matching(rf"^[!-~]([ -~]{{0,{MAX_KEY_CHARS - 2}}}[!-~])?$",
             f"must be 1-{MAX_KEY_CHARS} printable ASCII characters, with no space at either end",
             minLength=1, maxLength=MAX_KEY_CHARS),
    "Repeat a request safely: the same key and body replay the first answer; the same key with another body is "
    "422 idempotency_key_reused.")
