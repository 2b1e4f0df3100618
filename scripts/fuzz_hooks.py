"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz_live.py).

Schema-valid data may still break a rule no JSON Schema can state: a phone number the numbering
plans do not know, a time already past, a saved name that does not exist. Herald answers those
422 with a code of the rule's own, which the operation's 422 response lists in /openapi.json
(every other 422 is `validation_failed`: the request broke its schema). Such a refusal of
positive data is the documented answer, not a disagreement between the document and the code,
so `positive_data_acceptance` drops it; each one dropped is written to HERALD_FUZZ_DROPPED
(one `<operation>\t<code>` line) for the summary. Nothing else is dropped.
"""
from __future__ import annotations

import os

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData


def listed_codes(operation) -> list[str]:
    """The 422 codes an operation's document lists (validation_failed alone when it names none)."""
    response = operation.definition.raw.get("responses", {}).get("422", {})
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    for part in schema.get("allOf", []):
        codes = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum")
        if codes:
            return codes
    return ["validation_failed"]


def documented_rule(case, response) -> str | None:
    """The code of a 422 that names a rule beyond the schema, which this operation documents; else None."""
    if response.status_code != 422:
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if code != "validation_failed" and code in listed_codes(case.operation) else None


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a positive-data 422 naming a documented rule beyond the schema."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    code = documented_rule(case, response)
    if code is None:
        return True
    record = os.environ.get("HERALD_FUZZ_DROPPED")
    if record:
        with open(record, "a", encoding="utf-8") as out:
            out.write(f"{case.operation.label}\t{code}\n")
    return False
