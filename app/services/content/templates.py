"""Message templates with ((placeholders)), compiled once and filled per recipient.

Syntax: `((name))`; `((name??text))` gives `text` only when name is present and non-empty;
filters chain after a bar: `((name|default:friend))`, `((name|truncate:20))`, `((name|sub:0,10))`,
`((name|upper))`, `((name|lower))`. Anything else between `((` and `))` is refused when compiled,
with the character position, so a broken template never reaches a recipient.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable

from app.errors import ValidationFailed
from app.services.channels import registry

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .-]*\Z")
_FILTER = re.compile(r"([a-z]+)(?::(.*))?\Z", re.S)
_NUMBER = re.compile(r"\d+\Z")
# An ellipsis "…" is UCS-2 and would double an SMS's cost, so SMS gets three dots instead.


class TemplateError(ValidationFailed):
    """A template that cannot be compiled: names the character position at fault."""

    code = "invalid_template"

    def __init__(self, message: str, position: int, field: str = "body") -> None:
        """The message with its position appended, and details naming field and position."""
        super().__init__(f"{message} at character {position}", {"field": field, "position": position})
        self.position = position


@dataclass(frozen=True, slots=True)
class Slot:
    """One placeholder: the value's name, its filters, and what it needs to render."""

    name: str
    filters: tuple[Callable[[str], str], ...] = ()
    default: str | None = None
    condition: str | None = None

    @property
    def required(self) -> bool:
        """True when a recipient without this value cannot be sent the message."""
        return self.default is None and self.condition is None

    def fill(self, values: dict, escape: bool) -> str:
        """This placeholder's text for one recipient ('' when it has no value and is not required)."""
        raw = values.get(self.name)
        if raw is None or raw == "":
            if self.condition is not None or self.default is None:
                return ""
            value = self.default
        elif self.condition is not None:
            return self.condition
        else:
            value = str(raw)
        for apply in self.filters:
            value = apply(value)
        return html.escape(value) if escape else value


@dataclass(frozen=True, slots=True)
class Template:
    """A body split into literal text and placeholders, alternating."""

    literals: tuple[str, ...]
    slots: tuple[Slot, ...]
    # Characters every recipient gets whatever the personalisation: counted once, not per recipient.
    literal_chars: int = 0
    # Plain ((name)) placeholders only: lengths and renders take the fast path.
    plain: bool = True
    escape: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the values this template reads."""
        return tuple(slot.name for slot in self.slots)

    @property
    def is_static(self) -> bool:
        """True when every recipient gets the same text."""
        return not self.slots

    def missing(self, values: dict | None) -> list[str]:
        """The required placeholders this recipient's personalisation does not fill."""
        if not self.slots:
            return []
        values = values or {}
        return [s.name for s in self.slots if s.required and values.get(s.name) in (None, "")]

    def rendered_length(self, values: dict | None) -> int:
        """Characters of render(values), counted without building the text when the template is plain."""
        if not self.slots:
            return self.literal_chars
        if not self.plain:
            return len(self.render(values))
        values = values or {}
        return self.literal_chars + sum(len(str(value)) for name in self.fields
                                        if (value := values.get(name)) is not None)

    def fill(self, values: dict | None) -> tuple[list[str], int]:
        """(required placeholders left unfilled, characters of render(values)), building no text when plain.

        Intake calls this once per personalised recipient, so the plain case is one loop with no
        per-field calls beyond len() for string values.
        """
        if not self.plain:
            return self.missing(values), self.rendered_length(values)
        values = values or {}
        missing, length = [], self.literal_chars
        for slot in self.slots:
            value = values.get(slot.name)
            if value is None or value == "":
                missing.append(slot.name)
            else:
                length += len(value) if type(value) is str else len(str(value))
        return missing, length

    def render(self, values: dict | None) -> str:
        """The text one recipient receives."""
        if not self.slots:
            return self.literals[0]
        values = values or {}
        out = [self.literals[0]]
        escape = self.escape
        for slot, literal in zip(self.slots, self.literals[1:]):
            out.append(slot.fill(values, escape))
            out.append(literal)
        return "".join(out)


def _count(arg: str | None, filter_name: str, position: int) -> int:
    """A filter's whole-number argument, or a TemplateError at the filter's position."""
    if arg is None or not _NUMBER.match(arg.strip()):
        raise TemplateError(f"filter {filter_name!r} needs a whole number", position)
    return int(arg.strip())


def _truncate(limit: int, ellipsis: str) -> Callable[[str], str]:
    """Keep at most `limit` characters, the ellipsis included when the value is cut."""
    keep = max(limit - len(ellipsis), 0)
    return lambda value: value if len(value) <= limit else value[:keep] + ellipsis


def _sub(start: int, end: int, ellipsis: str) -> Callable[[str], str]:
    """Characters start..end of the value, with an ellipsis where text was cut off at the end."""
    return lambda value: value[start:end] + (ellipsis if len(value) > end else "")


def _filter(spec: str, position: int, ellipsis: str) -> tuple[Callable[[str], str] | None, str | None]:
    """(function, default) of one `name:args` filter; TemplateError if it is unknown or malformed."""
    match = _FILTER.match(spec.strip())
    name, arg = (match.group(1), match.group(2)) if match else (spec.strip(), None)
    if name == "default" and arg is not None:
        return None, arg
    if name in ("upper", "lower") and arg is None:
        return (str.upper if name == "upper" else str.lower), None
    if name == "truncate":
        return _truncate(_count(arg, name, position), ellipsis), None
    if name == "sub":
        bounds = (arg or "").split(",")
        if len(bounds) != 2:
            raise TemplateError("filter 'sub' needs two numbers, e.g. sub:0,20", position)
        start, end = (_count(b, name, position) for b in bounds)
        return _sub(start, end, ellipsis), None
    raise TemplateError(f"unknown or malformed filter {spec.strip()!r} (known: default:x, truncate:n, "
                        "sub:a,b, upper, lower)", position)


def _slot(inner: str, position: int, ellipsis: str) -> Slot:
    """Parse what sits between (( and )) starting at `position`."""
    if "??" in inner:
        name, condition = inner.split("??", 1)
        return Slot(_name(name, position), condition=condition)
    name, *specs = inner.split("|")
    filters, default = [], None
    for spec in specs:
        function, value = _filter(spec, position, ellipsis)
        if function is None:
            default = value
        else:
            filters.append(function)
    return Slot(_name(name, position), tuple(filters), default)


def _name(raw: str, position: int) -> str:
    """A placeholder's value name, stripped; TemplateError when it is empty or has odd characters."""
    name = raw.strip()
    if not _NAME.match(name):
        raise TemplateError(f"bad placeholder name {name!r}", position)
    return name


def compile_template(body: str, channel: str = registry.DEFAULT, field: str = "body") -> Template:
    """Split a body into literals and placeholders; TemplateError names the first problem's position."""
    literals, slots, cursor = [], [], 0
    rules = registry.get(channel)
    try:
        while (start := body.find("((", cursor)) != -1:
            _refuse_stray_close(body, cursor, start)
            end = body.find("))", start + 2)
            if end == -1:
                raise TemplateError("'((' is never closed by '))'", start)
            inner = body[start + 2:end]
            if "((" in inner:
                raise TemplateError("'((' opened inside a placeholder", start + 2 + inner.index("(("))
            literals.append(body[cursor:start])
            slots.append(_slot(inner, start, rules.ellipsis))
            cursor = end + 2
        _refuse_stray_close(body, cursor, len(body))
    except TemplateError as exc:
        exc.details["field"] = field
        raise
    literals.append(body[cursor:])
    plain = all(not s.filters and s.default is None and s.condition is None for s in slots)
    return Template(tuple(literals), tuple(slots), sum(map(len, literals)), plain and not rules.escapes_html,
                    escape=rules.escapes_html)


def _refuse_stray_close(body: str, start: int, end: int) -> None:
    """A '))' in literal text closes nothing: refuse it rather than guess."""
    stray = body.find("))", start, end)
    if stray != -1:
        raise TemplateError("'))' closes no placeholder", stray)


class Variants:
    """A template with language variants: each recipient's `language` value picks one, else the default."""

    def __init__(self, default: Template, by_language: dict[str, Template]) -> None:
        """Keep the variants and the union of their placeholder names."""
        self.default, self.by_language = default, by_language
        self.fields = tuple(dict.fromkeys(f for t in (default, *by_language.values()) for f in t.fields))
        self.is_static = False

    def pick(self, values: dict | None) -> Template:
        """The variant for this recipient's language."""
        return self.by_language.get((values or {}).get("language"), self.default)

    def missing(self, values: dict | None) -> list[str]:
        """Required placeholders this recipient's variant lacks."""
        return self.pick(values).missing(values)

    def rendered_length(self, values: dict | None) -> int:
        """Characters of this recipient's rendered variant."""
        return self.pick(values).rendered_length(values)

    def fill(self, values: dict | None) -> tuple[list[str], int]:
        """(unfilled required placeholders, rendered characters) of this recipient's variant."""
        return self.pick(values).fill(values)

    def render(self, values: dict | None) -> str:
        """This recipient's text, in their language where a variant exists."""
        return self.pick(values).render(values)


def compile_variants(body: str, variants: dict[str, str] | None, channel: str = registry.DEFAULT) -> Template | Variants:
    """The default body, plus its language variants when it has any."""
    default = compile_template(body, channel)
    if not variants:
        return default
    return Variants(default, {lang: compile_template(text, channel) for lang, text in variants.items() if lang})
