"""shared.tabular.RowErrors: one collector for an upload's format and reference problems (issue 10, defect 3)."""
from __future__ import annotations

import pytest

from shared.tabular import Column, RowErrors, TableError, parse_int, read_table

COLUMNS = [Column("code", "Mã", required=True), Column("n", "Số", parse_int, required=True)]


def test_reading_with_a_collector_returns_every_row_and_keeps_the_bad_cells():
    errors = RowErrors()
    rows = read_table("Mã,Số\nA,1\nB,x\n,3\n".encode(), "t.csv", COLUMNS, errors=errors)
    assert [(r["_line"], r["code"], r["n"]) for r in rows] == [(2, "A", 1), (3, "B", None), (4, None, 3)]
    assert [(p["line"], p["field"]) for p in errors.problems] == [(3, "n"), (4, "code")]
    assert errors.usable(rows[1], "code") and not errors.usable(rows[1], "n")
    assert not errors.usable(rows[2], "code")


def test_the_caller_adds_its_own_problems_and_the_refusal_lists_all_by_line():
    errors = RowErrors()
    rows = read_table("Mã,Số\nA,1\nB,x\nC,3\n".encode(), "t.csv", COLUMNS, errors=errors)
    for r in rows:
        if r["code"] in ("A", "C"):
            errors.add(r["_line"], "code", "Không có trong danh mục.")
    with pytest.raises(TableError) as refused:
        errors.raise_if_any()
    assert [(p["line"], p["field"]) for p in refused.value.problems] == [(2, "code"), (3, "n"), (4, "code")]


def test_without_a_collector_reading_refuses_every_bad_cell_as_before():
    with pytest.raises(TableError) as refused:
        read_table("Mã,Số\nA,x\n,y\n".encode(), "t.csv", COLUMNS)
    assert [(p["line"], p["field"]) for p in refused.value.problems] == [(2, "n"), (3, "code"), (3, "n")]


def test_no_problem_no_refusal():
    errors = RowErrors()
    read_table("Mã,Số\nA,1\n".encode(), "t.csv", COLUMNS, errors=errors)
    assert not errors
    errors.raise_if_any()
