"""A request that breaks its declared schema, said in one sentence that names the field.

The schema engine reports every broken keyword; a client needs the one that matters: the deepest,
inside the alternative (oneOf/anyOf branch) that came closest to matching.
"""
from __future__ import annotations

import json

from jsonschema_rs import ValidationError

# Enumerations longer than this are named by size, not listed (the document lists them).
MAX_LISTED = 12
# What a pattern means, in words, for the patterns the declarations share (filled by schema_text).
PATTERN_MEANINGS: dict[str, str] = {}
FORMATS = {"date-time": "an RFC 3339 date-time with a UTC offset, e.g. 2026-11-23T08:00:00+02:00",
           "uuid": "a UUID such as 6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
         "object": "an object", "array": "a list", "null": "null"}


def field_path(parts) -> str:
    """Instance path parts as the API names fields: `recipients[3].to`, `filter.and[0].eq`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _joined(*parts: str) -> str:
    """A field path with one more name on it."""
    base = parts[0]
    return ".".join(part for part in (base, *parts[1:]) if part)


def _branches(error: ValidationError) -> list[list[ValidationError]]:
    """The errors of each alternative of a failed oneOf/anyOf."""
    return [list(branch) for branch in (error.kind.as_dict().get("context") or [])]


def _depth(errors: list[ValidationError]) -> int:
    """How far into the value a branch got before it failed."""
    return max(len(e.instance_path) for e in errors)


def best(errors) -> ValidationError:
    """The error to report: the deepest, descending into the alternative of a oneOf/anyOf that came
    closest (got deepest into the value, or failed on fewest keywords, and no other as close)."""
    chosen = max(errors, key=lambda e: len(e.instance_path))
    branches = [branch for branch in _branches(chosen) if branch]
    if chosen.kind.name in ("oneOf", "anyOf") and branches:
        ranks = sorted(((_depth(branch), -len(branch)) for branch in branches), reverse=True)
        closest = max(branches, key=lambda branch: (_depth(branch), -len(branch)))
        if len(ranks) == 1 or ranks[0] != ranks[1]:
            return best(closest)
    return chosen


def _alternatives(node: dict, keyword: str) -> list[str]:
    """The field names of a oneOf/anyOf whose every branch only requires one field ([] otherwise)."""
    branches = node.get(keyword) or [{}]
    if all(set(branch) == {"required"} and len(branch["required"]) == 1 for branch in branches):
        return [branch["required"][0] for branch in branches]
    return []


def schema_at(document: dict, location) -> dict:
    """The schema object at a keyword location of the validated document (references followed)."""
    node = document
    for part in location:
        node = node[part] if isinstance(node, dict) or isinstance(part, int) else {}
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            node = schema_at(document, node["$ref"][2:].split("/"))
    return node if isinstance(node, dict) else {}


def _types_only(error: ValidationError) -> list[str]:
    """The types a oneOf/anyOf allows when each of its branches failed only on its type ([] otherwise)."""
    kinds = []
    for branch in _branches(error):
        if len(branch) != 1 or branch[0].kind.name != "type" or branch[0].instance_path != error.instance_path:
            return []
        kinds += [t for t in branch[0].kind.as_dict()["types"] if t not in kinds]
    return kinds


def _listed(values: list) -> str:
    """An enumeration, or its size when it is long."""
    if len(values) > MAX_LISTED:
        return f"one of the {len(values)} values the API document lists"
    return "one of " + ", ".join(json.dumps(v) for v in values)


def explain(error: ValidationError, root: str = "body", document: dict | None = None) -> tuple[str, str]:
    """(field, sentence) for one schema violation of `document`; `root` names the value itself."""
    where = field_path(error.instance_path)
    name, facts = error.kind.name, error.kind.as_dict()
    location = list(error.schema_path)
    node = schema_at(document or {}, location[:-1])
    if name == "required":
        field = _joined(where, facts["property"])
        return field, f"{field} is required"
    if name == "additionalProperties":
        field = _joined(where, str(facts["unexpected"][0]))
        return field, f"unknown field {facts['unexpected'][0]!r}" + (f" in {where}" if where else "")
    if name == "propertyNames":
        inner = facts["error"]
        key = inner.instance if isinstance(inner.instance, str) else str(next(iter(error.instance or {}), ""))
        field = _joined(where, key)
        rule = _wanted(inner, document).removeprefix("is refused: ")
        return field, f"{where or root} may not have a field named {key!r}: a name {rule}" if rule.startswith(
            "must") else f"{where or root} may not have a field named {key!r}: {rule}"
    if name in ("oneOf", "anyOf"):
        options = _alternatives(node, name)
        if options:
            present = [option for option in options if isinstance(error.instance, dict) and option in error.instance]
            quantity = "at least one" if name == "anyOf" else "exactly one"
            return _joined(where, (present[1:] or present or options)[0]), f"give {quantity} of {', '.join(options)}"
    if name == "not" and len(location) >= 3 and location[-3] == "dependentSchemas":
        where = _joined(where, str(location[-2]))
    subject = where or root
    return subject, f"{subject} {_wanted(error, document)}"


def _wanted(error: ValidationError, document: dict | None) -> str:
    """What the value should have been, in words (the schema's own words where it has them)."""
    name, facts = error.kind.name, error.kind.as_dict()
    location = list(error.schema_path)
    node = schema_at(document or {}, location[:-1])
    # A combination's refusal, or a rule that holds only given another field, reads best as its description.
    if node.get("description") and (name in ("oneOf", "anyOf", "not") or "then" in location):
        return f"is refused: {node['description']}"
    if name in ("oneOf", "anyOf") and _types_only(error):
        return "must be " + " or ".join(TYPES.get(t, t) for t in _types_only(error))
    if name == "pattern" and facts["pattern"] in PATTERN_MEANINGS:
        return PATTERN_MEANINGS[facts["pattern"]]
    return _sentence(name, facts)


def _sentence(name: str, facts: dict) -> str:
    """What the value should have been, for one keyword."""
    limit = facts.get("limit")
    sentences = {
        "type": lambda: "must be " + " or ".join(TYPES.get(t, t) for t in facts.get("types", [])),
        "enum": lambda: "must be " + _listed(facts["options"]),
        "const": lambda: f"must be {json.dumps(facts['expected_value'])}",
        "minimum": lambda: f"must be at least {limit}",
        "maximum": lambda: f"must be at most {limit}",
        "exclusiveMinimum": lambda: f"must be more than {limit}",
        "exclusiveMaximum": lambda: f"must be less than {limit}",
        "minLength": lambda: f"must be at least {limit} characters long",
        "maxLength": lambda: f"must be at most {limit} characters long",
        "minItems": lambda: f"must hold at least {_count(limit, 'item')}",
        "maxItems": lambda: f"must hold at most {_count(limit, 'item')}",
        "minProperties": lambda: f"must have at least {_count(limit, 'field')}",
        "maxProperties": lambda: f"must have at most {_count(limit, 'field')}",
        "pattern": lambda: f"must match the pattern {facts['pattern']}",
        "format": lambda: "must be " + FORMATS.get(facts["format"], f"a valid {facts['format']}"),
        "oneOf": lambda: "matches none, or more than one, of its allowed forms",
        "anyOf": lambda: "matches none of its allowed forms",
        "not": lambda: "is not allowed in this combination of fields",
        "falseSchema": lambda: "is not allowed here",
    }
    return sentences.get(name, lambda: "is not valid here")()


def _count(number: int, noun: str) -> str:
    """'1 item', '2 items'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
