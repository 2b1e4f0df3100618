"""Saved templates: a new version on every save, refused whole if the text does not compile."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import MessageTemplate
from app.services.channels import registry
from app.services.state.broadcast_state import record_audit
from app.services.content.storable_text import check_text
from app.services.content.templates import compile_template

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
_LANGUAGE = re.compile(r"([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?\Z")


def _fail(field: str, message: str) -> ValidationFailed:
    """A 422 naming the field at fault."""
    return ValidationFailed(message, {"field": field})


def parse_template(payload: dict, max_chars: int) -> tuple[str, str, str, str]:
    """(channel, name, language, body) of a save request; the body must compile."""
    channel, name, body = payload.get("channel", registry.DEFAULT), payload.get("name"), payload.get("body")
    # null means the default language, as an absent field does; false, 0 or {} are no language at all.
    language = "" if payload.get("language") is None else payload["language"]
    if not isinstance(channel, str) or channel not in registry.CHANNELS:
        raise _fail("channel", f"unknown channel {channel!r}; known: {registry.known()}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail("name", "name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise _fail("language", "language must be a language code such as 'en', 'bem' or 'nya'")
    if not isinstance(body, str) or not body.strip():
        raise _fail("body", "body is required and must be a non-empty string")
    if len(body) > max_chars:
        raise _fail("body", f"body is {len(body)} characters; the limit is {max_chars}")
    compile_template(check_text("body", body), channel)
    return channel, name, language, body


def parse_critical(payload: dict, channel: str) -> bool:
    """The optional `service_critical` flag: true only on a channel whose rules let it pass an opt-out."""
    value = payload.get("service_critical", False)
    if type(value) is not bool:
        raise _fail("service_critical", "service_critical must be true or false")
    if value and not registry.get(channel).critical_may_pass:
        raise _fail("service_critical", f"a {channel} message may not reach someone who opted out; "
                                        f"service_critical is allowed on {registry.critical_may_pass()}")
    return value


def save(service_id: int, payload: dict, actor: str, max_chars: int) -> dict:
    """Store the next version of a template and commit; a racing save is retried once.

    A `service_critical` version (a one-time code, an account alert) may be sent to a number on
    the suppression list; the save is audited, as is every such send.
    """
    channel, name, language, body = parse_template(payload, max_chars)
    critical = parse_critical(payload, channel)
    for _attempt in range(2):
        version = 1 + (db.session.scalar(select(func.max(MessageTemplate.version)).where(
            MessageTemplate.service_id == service_id, MessageTemplate.channel == channel,
            MessageTemplate.name == name, MessageTemplate.language == language)) or 0)
        row = MessageTemplate(service_id=service_id, channel=channel, name=name, language=language,
                              version=version, body=body, created_by=actor, service_critical=critical)
        db.session.add(row)
        try:
            if critical:
                record_audit(service_id, None, actor, "template_service_critical", reason=name,
                             details={"template": name, "language": language, "version": version})
            db.session.commit()
            return describe(row)
        except IntegrityError:
            db.session.rollback()
    raise ValidationFailed("the template was saved by someone else at the same moment; try again", {"field": "name"})


def describe(row: MessageTemplate) -> dict:
    """One version as the API shows it."""
    return {"name": row.name, "channel": row.channel, "language": row.language, "version": row.version,
            "body": row.body, "service_critical": bool(row.service_critical), "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def versions(service_id: int, name: str) -> list[dict]:
    """Every version of every language variant of one template, newest first."""
    rows = db.session.scalars(select(MessageTemplate).where(
        MessageTemplate.service_id == service_id, MessageTemplate.name == name)
        .order_by(MessageTemplate.channel, MessageTemplate.language, MessageTemplate.version.desc())).all()
    if not rows:
        raise NotFound(f"no template named {name!r}")
    return [describe(row) for row in rows]


def latest_all(service_id: int, limit: int) -> list[dict]:
    """The newest version of each (channel, name, language) of a service."""
    newer = aliased(MessageTemplate)
    has_newer = select(newer.id).where(
        newer.service_id == MessageTemplate.service_id, newer.channel == MessageTemplate.channel,
        newer.name == MessageTemplate.name, newer.language == MessageTemplate.language,
        newer.version > MessageTemplate.version).exists()
    rows = db.session.scalars(select(MessageTemplate).where(MessageTemplate.service_id == service_id, ~has_newer)
                              .order_by(MessageTemplate.channel, MessageTemplate.name, MessageTemplate.language)
                              .limit(limit)).all()
    return [describe(row) for row in rows]


def language_variants(service_id: int, channel: str, name: str) -> dict[str, dict]:
    """The newest version of each language variant of a template: {language: {"body", "version"}}."""
    newer = aliased(MessageTemplate)
    has_newer = select(newer.id).where(
        newer.service_id == MessageTemplate.service_id, newer.channel == MessageTemplate.channel,
        newer.name == MessageTemplate.name, newer.language == MessageTemplate.language,
        newer.version > MessageTemplate.version).exists()
    rows = db.session.scalars(select(MessageTemplate).where(
        MessageTemplate.service_id == service_id, MessageTemplate.channel == channel, MessageTemplate.name == name,
        MessageTemplate.language != "", ~has_newer)).all()
    return {row.language: {"body": row.body, "version": row.version} for row in rows}


def resolve(service_id: int, channel: str, name: str, version: object, language: object) -> tuple[str, dict]:
    """(body, reference) of the version a broadcast uses: the newest unless one is named."""
    if isinstance(version, float) and version.is_integer():
        version = int(version)  # JSON's 2.0 is the integer 2
    if version is not None and (type(version) is not int or version < 1):
        raise _fail("template_version", "template_version must be a whole number from 1")
    if language is not None and not isinstance(language, str):
        raise _fail("language", "language must be a string")
    query = select(MessageTemplate).where(
        MessageTemplate.service_id == service_id, MessageTemplate.channel == channel,
        MessageTemplate.name == name, MessageTemplate.language == (language or ""))
    if version is not None:
        query = query.where(MessageTemplate.version == version)
    row = db.session.scalars(query.order_by(MessageTemplate.version.desc()).limit(1)).first()
    if row is None:
        raise ValidationFailed(f"no {channel} template named {name!r}"
                               + (f" in language {language!r}" if language else "")
                               + (f" with version {version}" if version is not None else ""),
                               {"field": "template"}, code="unknown_template")
    reference = {"name": row.name, "version": row.version, "language": row.language}
    if row.service_critical:
        reference["service_critical"] = True
    if language is None and version is None:
        # No language asked for: each recipient's `language` picks the newest variant in it.
        variants = language_variants(service_id, channel, name)
        if variants:
            reference["variants"] = variants
    return row.body, reference
