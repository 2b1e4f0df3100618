"""The segment filter language: JSON in, a parameterised SQL condition over `contacts c` out.

    {"and": [f, ...]}  {"or": [f, ...]}  {"not": f}
    {"field": "language", "eq": "bem"}                {"field": "attributes.district", "in": ["Chipata", "Mambwe"]}
    {"field": "attributes.hectares", "gte": 2, "lt": 10}  {"field": "attributes.crop", "exists": true}
    {"field": "consent.sms", "eq": true}              {"field": "created_at", "gte": "2026-11-01T00:00:00Z"}

Every value, and every attribute name, reaches PostgreSQL as a bind parameter; the SQL text is
built only from this module's own fragments and column names from the FIELDS table. Each leaf
is COALESCEd to false, so a missing attribute is simply "not equal" and NOT means what it says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from app.errors import ValidationFailed
from app.services.audience.contacts_fields import ATTRIBUTE_NAME, CHANNELS, MAX_VALUE_CHARS, FieldRejected, timestamp

TEXT_FIELDS = {"external_id": "c.external_id", "phone": "c.phone", "email": "c.email", "whatsapp": "c.whatsapp",
               "inbox_user_id": "c.inbox_user_id", "language": "c.language", "carrier": "c.phone_carrier"}
TIME_FIELDS = {"created_at": "c.created_at", "updated_at": "c.updated_at"}
COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
RANGES = ("gt", "gte", "lt", "lte")
OPERATORS = (*COMPARE, "in", "exists")
# Bounds that keep one filter a query, not a denial of service.
MAX_DEPTH = 12
MAX_NODES = 200
MAX_IN_VALUES = 1000
_NUMERIC = r"'^\s*-?[0-9]+([.][0-9]+)?\s*$'"


@dataclass
class Compiled:
    """A SQL condition, its bind parameters, and the attribute names it reads."""

    sql: str
    params: dict = field(default_factory=dict)
    attributes: set = field(default_factory=set)


def _fail(path: str, message: str) -> ValidationFailed:
    """A 422 naming where in the filter the fault is."""
    return ValidationFailed(message, {"field": path})


class _Compiler:
    """Walks one filter, numbering bind parameters as it goes."""

    def __init__(self) -> None:
        self.params: dict = {}
        self.attributes: set = set()
        self.nodes = 0

    def bind(self, value: object, cast: str) -> str:
        """A new bind parameter holding value, cast in SQL to the given type."""
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {cast})"

    def node(self, spec: object, path: str, depth: int) -> str:
        """SQL for one node of the filter."""
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ValidationFailed(f"filters nest at most {MAX_DEPTH} deep and hold at most {MAX_NODES} conditions",
                                   {"field": path}, code="filter_too_complex")
        if not isinstance(spec, dict) or not spec:
            raise _fail(path, "a filter is an object: {and|or: [...]}, {not: {...}} or {field, <operator>}")
        if "field" not in spec:
            return self.combine(spec, path, depth)
        return self.leaf(spec, path)

    def combine(self, spec: dict, path: str, depth: int) -> str:
        """AND / OR over a list, or NOT over one filter."""
        if len(spec) != 1 or next(iter(spec)) not in ("and", "or", "not"):
            raise _fail(path, f"unknown filter keys {sorted(spec)}; use and, or, not, or field with an operator")
        key, value = next(iter(spec.items()))
        if key == "not":
            return f"(NOT {self.node(value, f'{path}.not', depth + 1)})"
        if not isinstance(value, list) or not value:
            raise _fail(f"{path}.{key}", f"{key} takes a non-empty list of filters")
        parts = [self.node(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(value)]
        return "(" + f" {key.upper()} ".join(parts) + ")"

    def leaf(self, spec: dict, path: str) -> str:
        """One field compared by one or more operators (ANDed)."""
        name = spec["field"]
        operators = [key for key in spec if key != "field"]
        unknown = [key for key in operators if key not in OPERATORS]
        if unknown or not operators:
            raise _fail(f"{path}.{unknown[0] if unknown else 'field'}",
                        f"operators are {list(OPERATORS)}; got {sorted(operators)} for {name!r}")
        if not isinstance(name, str):
            raise _fail(f"{path}.field", "field must be a string")
        parts = [self.condition(name, op, spec[op], f"{path}.{op}") for op in operators]
        return "(" + " AND ".join(parts) + ")"

    def condition(self, name: str, op: str, value: object, path: str) -> str:
        """COALESCE(<test>, false) for one field and operator."""
        if name in TEXT_FIELDS:
            test = self.text_test(TEXT_FIELDS[name], name, op, value, path)
        elif name in TIME_FIELDS:
            test = self.time_test(TIME_FIELDS[name], name, op, value, path)
        elif name.startswith("consent.") and name[8:] in CHANNELS:
            test = self.consent_test(name, op, value, path)
        elif name.startswith("attributes.") and ATTRIBUTE_NAME.match(name[11:]):
            self.attributes.add(name[11:])
            test = self.attribute_test(name, op, value, path)
        else:
            raise _fail(path.rsplit(".", 1)[0] + ".field",
                        f"unknown field {name!r}; fields are {sorted([*TEXT_FIELDS, *TIME_FIELDS])}, "
                        f"consent.<{'|'.join(CHANNELS)}> and attributes.<name> (letters, digits, _)")
        return f"COALESCE({test}, false)"

    def exists(self, expr: str, name: str, value: object, path: str) -> str:
        """IS [NOT] NULL for exists: true|false."""
        if not isinstance(value, bool):
            raise _fail(path, f"exists on {name!r} takes true or false")
        return f"({expr} IS {'NOT ' if value else ''}NULL)"

    def text_test(self, expr: str, name: str, op: str, value: object, path: str) -> str:
        """A text column: equality, IN, ranges (text order), exists."""
        if op == "exists":
            return self.exists(expr, name, value, path)
        if op == "in":
            return f"({expr} = ANY({self.bind(self.strings(name, value, path), 'text[]')}))"
        return f"({expr} {COMPARE[op]} {self.bind(self.string(name, value, path), 'text')})"

    def time_test(self, expr: str, name: str, op: str, value: object, path: str) -> str:
        """A timestamp column: ranges only, with an ISO 8601 time."""
        if op not in RANGES:
            raise _fail(path, f"{name!r} takes gt, gte, lt or lte with an ISO 8601 time")
        try:
            when = timestamp(name, value if isinstance(value, str) else None)
        except FieldRejected:
            when = None
        if when is None:
            raise _fail(path, f"{name!r} compares with an ISO 8601 time with a UTC offset")
        return f"({expr} {COMPARE[op]} {self.bind(when, 'timestamptz')})"

    def consent_test(self, name: str, op: str, value: object, path: str) -> str:
        """consent.<channel>: eq/ne true|false on the latest consent, or exists."""
        channel = self.bind(name[8:], "text")
        if op == "exists":
            return self.exists(f"(c.consent -> {channel})", name, value, path)
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise _fail(path, f"{name!r} takes eq or ne with true or false, or exists")
        return f"((c.consent -> {channel} ->> 'granted') {COMPARE[op]} {self.bind(str(value).lower(), 'text')})"

    def attribute_test(self, name: str, op: str, value: object, path: str) -> str:
        """attributes.<name>: text equality/IN, numeric or text ranges, exists."""
        key = self.bind(name[11:], "text")
        if op == "exists":
            return self.exists(f"(c.attributes -> {key})", name, value, path)
        text = f"(c.attributes ->> {key})"
        if op == "in":
            values = value if isinstance(value, list) else None
            return f"({text} = ANY({self.bind(self.strings(name, values, path, scalars=True), 'text[]')}))"
        if op in RANGES and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            number = f"(CASE WHEN {text} ~ {_NUMERIC} THEN CAST({text} AS numeric) END)"
            return f"({number} {COMPARE[op]} {self.bind(Decimal(str(value)), 'numeric')})"
        return f"({text} {COMPARE[op]} {self.bind(self.scalar(name, value, path, op in RANGES), 'text')})"

    @staticmethod
    def string(name: str, value: object, path: str) -> str:
        """A string operand of bounded length."""
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or "\x00" in value:
            raise _fail(path, f"{name!r} compares with a string (at most {MAX_VALUE_CHARS} characters)")
        return value

    def scalar(self, name: str, value: object, path: str, ranged: bool) -> str:
        """An attribute operand as the text PostgreSQL's ->> gives: strings, numbers, booleans (not in ranges)."""
        if isinstance(value, bool) and not ranged:
            return "true" if value else "false"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return self.string(name, value, path)

    def strings(self, name: str, value: object, path: str, scalars: bool = False) -> list[str]:
        """The operand of `in`: a non-empty list of at most MAX_IN_VALUES values."""
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
            raise _fail(path, f"in on {name!r} takes a list of 1 to {MAX_IN_VALUES} values")
        convert = (lambda v, p: self.scalar(name, v, p, False)) if scalars else (lambda v, p: self.string(name, v, p))
        return [convert(item, f"{path}[{i}]") for i, item in enumerate(value)]


def compile_filter(spec: object, path: str = "filter") -> Compiled:
    """Validate a filter and turn it into SQL over `contacts c`; 422 naming the fault."""
    compiler = _Compiler()
    sql = compiler.node(spec, path, 1)
    return Compiled(sql, compiler.params, compiler.attributes)
