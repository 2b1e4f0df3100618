"""What each recipient of a broadcast receives, and whether they may be sent it.

A broadcast's text is compiled once, the same way wherever it is read: the default body and its
language variants, the operator's `transliterate`, optional placeholders (`default:`, `??`) and the
length limit measured on the rendered text, filters applied. Intake (a recipient list or CSV), the
segment producer, the dry run and the send loop all go through `judge` and `Content.render`, so
what is judged and priced is what is sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.services.intake.broadcast_request import BroadcastSpec
from app.services.channels.recipients import Verdict
from app.services.content.templates import Template, Variants, compile_variants
from app.statuses import MessageStatus
from providers.parts import transliterate


@dataclass(slots=True)
class Candidate:
    """One distinct recipient as an audience found them, before judgement.

    `stored` is the personalisation as the JSON text the messages row keeps (None when empty);
    `refusal` is why the person must not be sent anything ('opted_out', 'consent_withdrawn').
    """

    address: str
    verdict: Verdict
    personalisation: dict | None
    stored: str | None = None
    refusal: str | None = None


@dataclass
class Scan:
    """What reading an audience found: entries read, and how many repeated an address already read."""

    total: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class Content:
    """A broadcast's compiled text, and the longest rendered text a recipient may get (None: no limit)."""

    template: Template | Variants
    transliterate: bool = False
    max_chars: int | None = None
    # False when every recipient gets the same text: nothing to judge per recipient.
    personalised: bool = field(init=False)

    def __post_init__(self) -> None:
        """Note once whether the text reads any personalisation."""
        object.__setattr__(self, "personalised", bool(self.template.fields))

    def check(self, personalisation: dict | None) -> tuple[str | None, str | None]:
        """(error code, detail) that keeps this personalisation from being sent, or (None, None)."""
        if not self.personalised:
            return None, None  # the body alone was checked against the limit when the request was parsed
        missing, length = self.template.fill(personalisation)
        if missing:
            return "missing_personalisation", ",".join(missing)
        if self.max_chars is not None and length > self.max_chars:
            return "message_too_long", f"{length} characters; the limit is {self.max_chars}"
        return None, None

    def render(self, personalisation: dict | None) -> str:
        """The exact text this recipient is sent."""
        text = self.template.render(personalisation)
        return transliterate(text) if self.transliterate else text


def for_spec(spec: BroadcastSpec, max_chars: int) -> Content:
    """The content of a validated request (intake and the dry run)."""
    return Content(compile_variants(spec.body, spec.variants, spec.channel), spec.transliterate, max_chars)


def for_broadcast(body: str, options: dict | None, channel: str, max_chars: int | None = None) -> Content:
    """The content of a stored broadcast, with the variants and `transliterate` it was created with."""
    options = options or {}
    variants = (options.get("template") or {}).get("variants")
    by_language = {lang: v["body"] for lang, v in variants.items()} if variants else None
    return Content(compile_variants(body, by_language, channel), bool(options.get("transliterate")), max_chars)


def judge(content: Content, candidate: Candidate) -> tuple[MessageStatus, str | None, str | None]:
    """(status, error code, error detail) of one recipient's messages row.

    A bad address or personalisation rejects the row; a refusal only applies to a row that
    could otherwise be sent, so a rejected row keeps the reason that made it unsendable.
    """
    verdict = candidate.verdict
    if not verdict.valid:
        return MessageStatus.REJECTED, verdict.reason, None
    code, detail = content.check(candidate.personalisation)
    if code is not None:
        return MessageStatus.REJECTED, code, detail
    if candidate.refusal is not None:
        return MessageStatus.OPTED_OUT, candidate.refusal, None
    return MessageStatus.PENDING, None, None
