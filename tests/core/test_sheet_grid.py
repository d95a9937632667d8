"""The raw top of an Excel sheet and the guess of its header row (no Qt)."""

from __future__ import annotations

import openpyxl

from desktop_ift.core.data.sheet_grid import guess_header_row, read_sheet_grid


def test_title_and_notes_above_the_header_are_not_taken_for_it(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in (["Quarterly export"], ["generated 2024-03-01", None, None], [], ["id", "question", "answer"],
                [1, "Why?", "Because"], [2, "How?", "Like so"]):
        sheet.append(row)
    workbook.save(tmp_path / "b.xlsx")
    grid = read_sheet_grid(tmp_path / "b.xlsx")
    assert [n for n, _ in grid.rows] == [1, 2, 4, 5, 6] and grid.width == 3
    assert grid.first_filled == 1 and grid.header_guess == 4
    assert grid.rows[3][1] == ["1", "Why?", "Because"]


def test_a_numeric_first_row_is_not_a_header_and_a_plain_table_keeps_row_one():
    assert guess_header_row([(1, ["a", "b"]), (2, ["1", "2"])]) == 1
    assert guess_header_row([(1, ["1", "2"]), (2, ["3", "4"])]) == 1  # no text row: the widest, first
    assert guess_header_row([]) is None
