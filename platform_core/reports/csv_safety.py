"""Cells that a spreadsheet would run as a formula are written as text (CSV injection).

OWASP's rule: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a
single quote, which spreadsheets show as text and do not display. defusedcsv covers the first four
but not tab and carriage return, so the rule is kept here.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> str:
    """The value as a CSV cell that no spreadsheet evaluates."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
