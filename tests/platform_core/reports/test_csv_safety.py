"""Report cells that a spreadsheet would evaluate are written as text."""

from __future__ import annotations

import pytest

from platform_core.reports.csv_safety import neutralize


@pytest.mark.parametrize(
    "value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x.example")']
)
def test_a_cell_starting_a_formula_gets_a_quote(value):
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "1+1", "a=b", " =1", "", "'quoted already"])
def test_other_cells_are_unchanged(value):
    assert neutralize(value) == value


def test_values_that_are_not_text_are_written_as_text():
    assert neutralize(42) == "42"
