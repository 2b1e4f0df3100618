"""Message templates with ((placeholders)), compiled once and filled per recipient."""
from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\(\(\s*([A-Za-z0-9_][A-Za-z0-9_ .-]*?)\s*\)\)")


@dataclass(frozen=True, slots=True)
class Template:
    """A body split into literal text and placeholder names, alternating."""

    literals: tuple[str, ...]
    fields: tuple[str, ...]
    # Characters every recipient gets whatever the personalisation: counted once, not per recipient.
    literal_chars: int = 0

    @property
    def is_static(self) -> bool:
        """True when every recipient gets the same text."""
        return not self.fields

    def missing(self, values: dict | None) -> list[str]:
        """The placeholders this recipient's personalisation does not fill."""
        if not self.fields:
            return []
        values = values or {}
        return [name for name in self.fields if values.get(name) in (None, "")]

    def fill(self, values: dict | None) -> tuple[list[str], int]:
        """(placeholders left unfilled, characters of render(values)) in one pass, building no text.

        Intake calls this once per personalised recipient, so it is one loop with no per-field calls
        beyond len() for the common case of string values.
        """
        values = values or {}
        missing, length = [], self.literal_chars
        for name in self.fields:
            value = values.get(name)
            if value is None or value == "":
                missing.append(name)
            else:
                length += len(value) if type(value) is str else len(str(value))
        return missing, length

    def render(self, values: dict | None) -> str:
        """The text one recipient receives."""
        if not self.fields:
            return self.literals[0]
        values = values or {}
        out = [self.literals[0]]
        for name, literal in zip(self.fields, self.literals[1:]):
            out.append(str(values.get(name, "")))
            out.append(literal)
        return "".join(out)


def compile_template(body: str) -> Template:
    """Split a body into literals and placeholders."""
    parts = _PLACEHOLDER.split(body)
    literals = tuple(parts[0::2])
    return Template(literals=literals, fields=tuple(parts[1::2]), literal_chars=sum(map(len, literals)))
