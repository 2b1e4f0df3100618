"""CSV for download that a spreadsheet shows as data: every export writes its cells through here.

A spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, tab or CR as a formula (`=HYPERLINK(...)`
from an uploaded address, say). Such a cell is written with a leading quote, which spreadsheets
show as text. An E.164 number (`+` and digits only) is data and stays as it is. A cell that
already starts with quotes before a would-be formula gets one more, so `read_back` (used by the
contact import) drops exactly the one quote an export added and a file survives the round trip.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
# First characters worth a closer look: the common cell is judged by one set lookup.
_RISKY_FIRST = frozenset((*FORMULA_STARTS, QUOTE))
# Rows per chunk a streamed export yields: small enough to start at once, large enough to be cheap.
CHUNK_ROWS = 1000


def _is_formula(value: str) -> bool:
    """True when a spreadsheet would run this text as a formula."""
    if not value.startswith(FORMULA_STARTS):
        return False
    return not (value[0] == "+" and value[1:].isdigit() and value.isascii())


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: a leading quote before a would-be formula; non-strings as they are."""
    if isinstance(value, str) and value[:1] in _RISKY_FIRST and _is_formula(value.lstrip(QUOTE)):
        return QUOTE + value
    return value


def read_back(cell: str) -> str:
    """The value an exported cell was written from: the quote `spreadsheet_safe` added, removed."""
    if cell.startswith(QUOTE) and _is_formula(cell.lstrip(QUOTE)):
        return cell[1:]
    return cell


def stream(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text in chunks of CHUNK_ROWS lines, every cell made spreadsheet-safe; memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    for count, row in enumerate(rows, 1):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
