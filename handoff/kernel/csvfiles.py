"""CSV written for people's spreadsheets: text that a spreadsheet would run as a formula is
kept as text, and a long file goes out line by line."""

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def safe_cell(value):
    """A cell as a spreadsheet reads it: text that would start a formula (a department named
    "=HYPERLINK(…)") is kept as text with a leading apostrophe; numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable]) -> str:
    """The rows as CSV text, every cell safe."""
    out = io.StringIO()
    csv.writer(out).writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()


def csv_lines(rows: Iterable[Iterable], every: int = 200) -> Iterator[str]:
    """The rows as CSV text in pieces of `every` rows, for a streamed response."""
    out = io.StringIO()
    writer = csv.writer(out)
    for number, row in enumerate(rows, 1):
        writer.writerow([safe_cell(value) for value in row])
        if number % every == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()
