"""The workbook writer: every cell read back with openpyxl equals the table it came from."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from siting.reports.workbook import Column, Sheet, sheet_name, write_workbook


def test_cells_headers_formats_and_frozen_row(tmp_path):
    frame = pd.DataFrame({
        "unit_name": ["东风社区", "向阳社区", "新村"],
        "households": [1200, 800, 0],
        "coverage_share": [0.915, 0.5, np.nan],
        "m2_per_100_households": [21.25, 12.0, math.inf],
        "passes": [True, False, None],
    })
    columns = [Column("unit_name", "社区名称"), Column("households", "户数 (户)", "int"),
               Column("coverage_share", "15分钟覆盖率 (%)", "percent"),
               Column("m2_per_100_households", "每百户面积 (m²/百户)", "float1"), Column("passes", "达标")]
    path = write_workbook(tmp_path / "指标.xlsx", [Sheet("社区 community", frame, columns), Sheet("raw", frame)])
    book = load_workbook(path)
    assert book.sheetnames == ["社区 community", "raw"]
    ws = book["社区 community"]
    assert [c.value for c in ws[1]] == ["社区名称", "户数 (户)", "15分钟覆盖率 (%)", "每百户面积 (m²/百户)", "达标"]
    assert ws.freeze_panes == "A2"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert rows == [["东风社区", 1200, 0.915, 21.25, True], ["向阳社区", 800, 0.5, 12.0, False], ["新村", 0, None, None, None]]
    assert ws["B2"].number_format == "#,##0" and ws["C2"].number_format == "0.0%" and ws["D3"].number_format == "#,##0.0"
    assert ws.column_dimensions["A"].width >= 10  # 社区名称: four wide characters
    raw = book["raw"]
    assert [c.value for c in raw[1]] == list(frame.columns)
    assert pd.read_excel(path, sheet_name="raw")["households"].tolist() == [1200, 800, 0]


def test_sheet_names_made_valid_and_unique(tmp_path):
    assert sheet_name("a/b:c?" + "x" * 40) == ("a_b_c_" + "x" * 40)[:31]
    frame = pd.DataFrame({"a": [1]})
    path = write_workbook(tmp_path / "w.xlsx", [Sheet("y" * 40, frame), Sheet("y" * 40, frame)])
    assert load_workbook(path).sheetnames == ["y" * 31, "y" * 29 + "~2"]


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "w.xlsx"
    write_workbook(target, [Sheet("ok", pd.DataFrame({"a": [1]}))])
    before = target.read_bytes()
    with pytest.raises(KeyError, match="no column"):
        write_workbook(target, [Sheet("bad", pd.DataFrame({"a": [1]}), [Column("b", "B")])])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.xlsx"]


def test_run_workbook_equals_the_csv_tables(tmp_path):
    """The run workbook of the sample project: the facilities sheet holds the facilities.csv values cell for cell and
    the summary sheet the summary.json figures."""
    import json

    from conftest import SAMPLE

    from siting.pipeline import run_coverage
    from siting.reports.run_workbook import write_run_workbook

    run = run_coverage(SAMPLE / "sample_project.toml", output=tmp_path / "out", map=tmp_path / "map.html", polygons=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    csv = pd.read_csv(tmp_path / "out" / "facilities.csv", encoding="utf-8-sig")
    path = write_run_workbook(tmp_path / "run.xlsx", summary, csv)
    book = load_workbook(path)
    assert book.sheetnames == ["概要 Summary", "判定 Verdicts", "设施 Facilities"]
    fac = book["设施 Facilities"]
    headers = [c.value for c in fac[1]]
    assert headers[:3] == ["设施编号", "名称", "类型"] and "建筑面积 (m²)" in headers
    cells = [[c.value for c in row] for row in fac.iter_rows(min_row=2)]
    for j, column in enumerate(csv.columns):
        expected = [None if pd.isna(e) else e for e in csv[column].tolist()]
        # xlsx keeps 15 significant digits, as Excel does
        assert [row[j] for row in cells] == [pytest.approx(e, rel=1e-14) if isinstance(e, float) else e for e in expected], column
    top = book["概要 Summary"]
    head = [c.value for c in top[1]]
    rows = {r[0]: dict(zip(head, r)) for r in top.iter_rows(min_row=2, values_only=True)}
    elderly = summary["kinds"]["elderly_day_care"]
    row = rows["日间照料 elderly day care"]
    assert row["15分钟覆盖率 (%)"] == pytest.approx(elderly["coverage_rate"], rel=1e-14)
    assert row["15分钟内户数 (户)"] == elderly["households_covered"] == run.result.summary["kinds"]["elderly_day_care"]["households_covered"]
    assert row["5分钟覆盖率 (%)"] == pytest.approx(elderly["by_threshold"]["5"]["coverage_rate"], rel=1e-14)
    verdicts = list(book["判定 Verdicts"].iter_rows(min_row=2, values_only=True))
    assert len(verdicts) == sum(len(k["verdicts"]) for k in summary["kinds"].values())


def _rows(ws) -> list[dict]:
    headers = [c.value for c in ws[1]]
    return [dict(zip(headers, row)) for row in ws.iter_rows(min_row=2, values_only=True)]


def _cell(value, scale: float = 1.0):
    """What the writer puts in a cell for a CSV value: empty when missing, shares ×100 rounded to 2 decimals."""
    return None if pd.isna(value) else pytest.approx(round(float(value) * scale, 2), abs=1e-9)


def test_sample_run_workbooks_equal_the_csv_tables(tmp_path):
    """A `siting demo`-like run of the sample (with its invented 社区 and 街道): coverage.xlsx and indicators.xlsx read
    back with openpyxl. Both hold the indicator sheets (coverage.xlsx after its summary, verdicts and facilities), every
    sheet has Chinese headers and a frozen header row, the indicator sheets equal indicators.csv row for row (values
    and targets of % rows ×100, the writer's convention), each unit sheet's households and shortfalls equal
    units_<level>.csv and the ledger sheet equals ledger.csv."""
    import re

    from conftest import copy_sample_project

    from siting.measures.units import LEVELS
    from siting.pipeline import run_coverage

    run_coverage(copy_sample_project(tmp_path))
    out = tmp_path / "out"
    table = pd.read_csv(out / "indicators.csv", encoding="utf-8-sig")
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig", dtype={"unit_id": str, "parent_id": str})
    units = {level: pd.read_csv(out / f"units_{level}.csv", encoding="utf-8-sig", dtype={"unit_id": str})
             for level in ("community", "street")}
    indicator_sheets = ["指标表", "指标表（分单元）", "社区", "街道", "问题台账"]
    for name, first in (("coverage.xlsx", ["概要 Summary", "判定 Verdicts", "设施 Facilities"]), ("indicators.xlsx", [])):
        book = load_workbook(out / name)
        assert book.sheetnames == first + indicator_sheets, name
        for ws in book.worksheets:
            headers = [c.value for c in ws[1]]
            assert ws.freeze_panes == "A2", (name, ws.title)
            assert all(headers) and sum(bool(re.search(r"[\u4e00-\u9fff]", h)) for h in headers) >= len(headers) - 2, (name, ws.title)
        for sheet, scoped in (("指标表", table["scope_level"] == "city"), ("指标表（分单元）", table["scope_level"] != "city")):
            rows, expected = _rows(book[sheet]), table[scoped]
            assert len(rows) == len(expected) > 0
            for row, exp in zip(rows, expected.itertuples(index=False)):
                scale = 100.0 if exp.unit == "%" else 1.0
                assert (row["指标名称"], row["范围"], row["单位"], row["判定"]) == (exp.name, exp.scope, exp.unit, exp.verdict)
                assert (row["现状值"], row["目标值"]) == (_cell(exp.value, scale), _cell(exp.target, scale)), exp.indicator
                assert row["依据条款"] == (None if pd.isna(exp.clause) else exp.clause)
        for level, sheet in (("community", "社区"), ("street", "街道")):
            rows, expected = _rows(book[sheet]), units[level]
            assert [r["单元编号"] for r in rows] == expected["unit_id"].tolist()
            assert [r["户数（户）"] for r in rows] == pytest.approx(expected["households"].tolist())
            assert [r["面积缺口（m²）"] for r in rows] == pytest.approx(expected["shortfall_m2"].tolist())
            assert [r["托位缺口（个）"] for r in rows] == pytest.approx(expected["shortfall_seats"].tolist())
            assert [r["面积判定"] for r in rows] == expected["provision_verdict_elderly_day_care"].map(
                {"pass": "达标", "fail": "未达标"}).tolist()
        rows = _rows(book["问题台账"])
        assert len(rows) == len(ledger) > 0
        for row, exp in zip(rows, ledger.itertuples(index=False)):
            assert (row["层级"], row["单元编号"], row["未达标指标"], row["整改建议"]) == (
                LEVELS[exp.level], exp.unit_id, exp.indicator_name, exp.action)
            for header, value in (("面积缺口（m²）", exp.shortfall_m2), ("托位缺口（个）", exp.shortfall_seats),
                                  ("户数（户）", exp.households), ("步行圈外户数（户）", exp.households_outside_walk)):
                assert row[header] == (None if pd.isna(value) else pytest.approx(value)), header
