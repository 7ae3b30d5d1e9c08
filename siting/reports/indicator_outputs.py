"""The plan indicator table and problem ledger (siting.measures.indicators) as files and as a report section: units_<level>.csv,
indicators.csv/json, ledger.csv, indicators.xlsx (through siting.reports.workbook, the project's one Excel writer, with
Chinese headers and units) and the run report's section.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..inputs.schema import ELDERLY
from ..measures.indicators import FAIL, PASS, Indicators
from ..measures.units import LEVELS
from .report import Section, Table
from .workbook import Column, Sheet, write_workbook

#: Chinese headers (with units) of the unit sheets, by column; formats by name (siting.reports.workbook.FORMATS).
UNIT_HEADERS: dict[str, tuple[str, str | None]] = {
    "unit_id": ("单元编号", "text"), "name": ("名称", None), "parent_id": ("上级单元编号", "text"), "area_type": ("新建/既有", None),
    "residences": ("居住点数", "int"), "households": ("户数（户）", "int"), "households_new": ("新建居住区户数（户）", "int"), "population": ("常住人口（人）", "int"),
    "elderly": ("老年人口（人）", "int"), "infants": ("0–3岁婴幼儿（人）", "int"),
    "households_outside_walk_elderly_day_care": ("养老服务圈外户数（户）", "int"),
    "facilities_inside_elderly_day_care": ("单元内养老服务设施（处）", "int"),
    "has_elderly_day_care_inside": ("单元内有养老服务设施", None),
    "best_reach_share_elderly_day_care": ("单个设施最大覆盖户数比例（%）", "percent"),
    "has_elderly_day_care_reach": ("步行圈覆盖达标（养老）", None),
    "capacity_inside_elderly_day_care": ("单元内养老设施建筑面积（m²）", "float1"),
    "m2_per_100_households": ("每百户建筑面积（m²/百户）", "float2"),
    "standard_m2_per_100_households": ("标准（m²/百户）", "float2"),
    "shortfall_m2": ("面积缺口（m²）", "float1"), "provision_verdict_elderly_day_care": ("面积判定", None),
    "households_outside_walk_nursery": ("托育服务圈外户数（户）", "int"),
    "facilities_inside_nursery": ("单元内托育机构（处）", "int"), "has_nursery_inside": ("单元内有托育机构", None),
    "best_reach_share_nursery": ("单个托育机构最大覆盖户数比例（%）", "percent"),
    "has_nursery_reach": ("步行圈覆盖达标（托育）", None),
    "capacity_inside_nursery": ("单元内托位（个）", "int"),
    "seats_per_1000_residents": ("每千人托位（个/千人）", "float2"),
    "standard_seats_per_1000_residents": ("标准（个/千人）", "float2"),
    "shortfall_seats": ("托位缺口（个）", "float1"), "provision_verdict_nursery": ("托位判定", None),
    "verdict_community_day_care_coverage": ("社区日间照料判定", None),
    "verdict_community_childcare_coverage": ("社区托育判定", None),
    "verdict_village_elderly_care_coverage": ("行政村养老服务设施判定", None),
    "verdict_street_centre_coverage": ("街道养老服务中心判定", None),
    "street_centres": ("街道养老服务中心（处）", "int"), "community_stations": ("社区养老服务站（处）", "int"),
    "xiaoqu_rooms": ("小区养老服务用房（处）", "int"), "largest_centre_m2": ("最大中心建筑面积（m²）", "float1"),
    "has_street_centre": ("有达标街道中心", None), "beds": ("床位（张）", "int"), "nursing_beds": ("护理型床位（张）", "int"),
    "beds_per_1000_elderly": ("每千名老人床位（张/千人）", "float1"), "nursing_bed_share": ("护理型床位占比（%）", "percent"),
    "best_candidate_elderly_day_care": ("建议候选点（养老）", "text"),
    "best_candidate_households_gained_elderly_day_care": ("候选点新增覆盖户数（养老）", "int"),
    "best_candidate_nursery": ("建议候选点（托育）", "text"),
    "best_candidate_households_gained_nursery": ("候选点新增覆盖户数（托育）", "int"),
}
TABLE_HEADERS: dict[str, tuple[str, str | None]] = {
    "name": ("指标名称", None), "scope": ("范围", None), "definition": ("定义", None), "target": ("目标值", "float2"),
    "target_year": ("目标年份", "0"), "unit": ("单位", None), "value": ("现状值", "float2"),
    "value_inside": ("现状值（单元内设施口径）", "percent"), "value_reach": ("现状值（步行覆盖口径）", "percent"),
    "numerator": ("分子", "float1"), "denominator": ("分母", "float1"), "verdict": ("判定", None),
    "clause": ("依据条款", None), "source": ("来源", None), "figure": ("配置项", None), "inherited_from": ("继承自", None),
}
LEDGER_HEADERS: dict[str, tuple[str, str | None]] = {
    "level": ("层级", None), "unit_id": ("单元编号", "text"), "name": ("名称", None), "parent_id": ("上级单元编号", "text"),
    "indicator_name": ("未达标指标", None), "situation": ("现状", None), "facility_id": ("设施编号", "text"),
    "shortfall_m2": ("面积缺口（m²）", "float1"), "shortfall_seats": ("托位缺口（个）", "float1"),
    "households": ("户数（户）", "int"), "households_outside_walk": ("步行圈外户数（户）", "int"),
    "best_candidate": ("建议候选点", "text"), "best_candidate_inside": ("候选点在单元内", None),
    "best_candidate_households_gained": ("候选点新增覆盖户数（户）", "int"), "action": ("整改建议", None),
    "clause": ("依据条款", None), "source": ("来源", None),
}


def _ring_headers(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    out = {}
    for column in frame.columns:
        if column.startswith("share_within_"):
            minutes, kind = column[len("share_within_"):].split("min_", 1)
            out[column] = (f"{minutes}分钟内户数比例·{'养老' if kind == ELDERLY else '托育'}（%）", "percent")
    return out


def _sheet(name: str, frame: pd.DataFrame, headers: dict[str, tuple[str, str | None]]):
    return Sheet(name, frame, [Column(key, header, fmt) for key, (header, fmt) in headers.items() if key in frame.columns])


def _table_sheet(name: str, table: pd.DataFrame):
    """Indicator rows; a share's value and target as per cent, other units as decimals (one format per cell is not
    available per row, so shares are written ×100 with unit %)."""
    shown = table.copy()
    pct = shown["unit"] == "%"
    for col in ("value", "target"):
        shown[col] = np.where(pct, shown[col].astype(float) * 100.0, shown[col].astype(float)).round(2)
    return _sheet(name, shown, TABLE_HEADERS)


def unit_sheet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A unit table with verdicts and flags as 达标/未达标, 是/否 for the workbook."""
    shown = frame.copy()
    for column in shown.columns:
        if column.startswith(("provision_verdict_", "verdict_")):
            shown[column] = shown[column].map({PASS: "达标", FAIL: "未达标"}).fillna("无居民")
        elif shown[column].dtype == bool or column.startswith(("has_", "best_candidate_inside")):
            shown[column] = shown[column].map({True: "是", False: "否"})
    return shown


def indicator_sheets(indicators: Indicators) -> list:
    """The workbook sheets: 指标表 (city-wide), 指标表（分单元）, one per unit level, 问题台账."""
    table = indicators.table
    sheets = [_table_sheet("指标表", table[table["scope_level"] == "city"])]
    if (table["scope_level"] != "city").any():
        sheets.append(_table_sheet("指标表（分单元）", table[table["scope_level"] != "city"]))
    for level, frame in indicators.units.items():
        sheets.append(_sheet(LEVELS[level].split("/")[0], unit_sheet_frame(frame),
                             {**{k: v for k, v in UNIT_HEADERS.items() if k in ("unit_id", "name", "parent_id", "area_type",
                                 "residences", "households", "households_new", "population", "elderly", "infants")},
                              **_ring_headers(frame), **UNIT_HEADERS}))
    ledger = indicators.ledger.copy()
    ledger["level"] = ledger["level"].map(lambda lv: LEVELS.get(lv, lv))
    ledger["best_candidate_inside"] = ledger["best_candidate_inside"].map({True: "是", False: "否"})
    sheets.append(_sheet("问题台账", ledger, LEDGER_HEADERS))
    return sheets


def indicators_section(indicators: Indicators):
    """The run report's section of the plan's indicators: the indicator table (city-wide and per parent unit) and the
    problem ledger, with the same values as indicators.csv and ledger.csv."""
    table = indicators.table.copy()
    pct = table["unit"] == "%"
    for col in ("value", "target"):  # shares as per cent, as in the workbook
        table[col] = np.where(pct, table[col].astype(float) * 100.0, table[col].astype(float))
    headers = {"name": "指标 Indicator", "scope": "范围 Scope", "target": "目标 Target", "value": "现状 Value",
               "unit": "单位 Unit", "verdict": "结论 Verdict", "clause": "依据 Clause"}
    ledger_headers = {"level": "层级 Level", "unit_id": "编号 Id", "name": "名称 Name", "indicator_name": "未达标指标 Indicator",
                      "shortfall_m2": "面积缺口 m²", "shortfall_seats": "托位缺口 Seats",
                      "households_outside_walk": "步行圈外户数 Households outside", "best_candidate": "建议候选点 Candidate",
                      "action": "整改建议 Action"}
    ledger = indicators.ledger.copy()
    ledger["level"] = ledger["level"].map(lambda lv: LEVELS.get(lv, lv))
    return Section("unit_indicators", "规划指标与问题台账 Plan indicators and problem ledger", [
        Table("plan_indicators", "规划指标表 Plan indicator table", table, headers, verdict_column="verdict"),
        Table("ledger", f"问题台账 Problem ledger ({len(ledger)} rows)", ledger, ledger_headers),
    ])


def write_indicator_outputs(out: Path, indicators: Indicators, *, write_csv: Callable, write_json: Callable,
                            place: Callable[[Path], Path] = lambda target: target,
                            sheets: list | None = None) -> dict[str, Path]:
    """units_<level>.csv, indicators.csv, indicators.json, ledger.csv and indicators.xlsx into `out`; `place` gives
    the path to write a target to (a run's staging folder, see siting.output.output_set); `sheets` are the
    workbook's sheets when the caller has built them already (`indicator_sheets`)."""
    paths: dict[str, Path] = {}
    for level, frame in indicators.units.items():
        paths[f"units_{level}"] = write_csv(out / f"units_{level}.csv", frame)
    paths["indicators_csv"] = write_csv(out / "indicators.csv", indicators.table)
    paths["indicators_json"] = write_json(out / "indicators.json", {
        "indicators": indicators.table.replace({np.nan: None}).to_dict(orient="records"),
        "ledger": indicators.ledger.replace({np.nan: None}).to_dict(orient="records")})
    paths["ledger"] = write_csv(out / "ledger.csv", indicators.ledger)
    write_workbook(place(out / "indicators.xlsx"), sheets if sheets is not None else indicator_sheets(indicators))
    paths["indicators_xlsx"] = out / "indicators.xlsx"
    return paths
