"""Regression: HLM's descriptive-statistics table with variable names longer than 12
characters (CSV/Excel headers such as ``mathematics_achievement_score``): the row was pushed
right and no longer lined up with the header; short names keep HLM's layout."""

from __future__ import annotations

import pandas as pd

import openhlm
from openhlm.data import build_mdm


def _columns_line_up(lines: list[str]) -> None:
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("VARIABLE NAME"))
    rows = []
    for line in lines[header:]:
        if not line.strip():
            break
        rows.append(line)
    ends = [[i + 1 for i in range(len(line)) if line[i] != " " and
             (i + 1 == len(line) or line[i + 1] == " ")][-5:] for line in rows]
    assert len(rows) > 2
    assert all(e == ends[0] for e in ends), rows   # the right edges of N .. MAXIMUM


def test_long_name_keeps_columns_aligned():
    students = pd.read_csv(openhlm.datasets.path("hsb1.csv")).rename(
        columns={"mathach": "mathematics_achievement_score"})
    mdm = build_mdm(students, pd.read_csv(openhlm.datasets.path("hsb2.csv")), id="id")
    lines = mdm.describe_text().splitlines()
    _columns_line_up(lines)
    row = next(line for line in lines if "MATHEMATICS_ACHIEVEMENT_SCORE" in line)
    assert row.split()[1:] == ["7185", "12.75", "6.88", "-2.83", "24.99"]


def test_short_names_keep_hlms_layout():
    lines = openhlm.datasets.hsb().describe_text().splitlines()
    assert "VARIABLE NAME       N       MEAN         SD     MINIMUM     MAXIMUM" in lines
    assert "      MATHACH    7185      12.75       6.88       -2.83       24.99" in lines
    _columns_line_up(lines)
